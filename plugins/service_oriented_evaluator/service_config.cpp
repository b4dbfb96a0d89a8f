// The top of the `service_oriented` section: inference_engine, evaluation and (when the host passes it)
// the demand, whose datasets are the ones benchmarked, in order, with the reference's fast fail.
#include "service_config.hpp"

#include <algorithm>

#include "evaluation_config.hpp"

namespace modelslim::service {
namespace {

std::vector<DemandItem> parse_demand(const ConfigNode& node) {
  std::vector<DemandItem> items;
  if (!node.defined() || !node["expectations"].is_sequence()) return items;  // the host validates the demand
  for (const ConfigNode& e : node["expectations"].items()) {
    DemandItem item;
    item.dataset = e["dataset"].as_string();
    const std::string metric = e.get_string("metric", "acc");
    if (e.has("target") && metric == "acc")
      item.threshold = e["target"].as_double() - e.get_double("tolerance", 0);
    if (std::none_of(items.begin(), items.end(),
                     [&](const DemandItem& d) { return d.dataset == item.dataset; }))
      items.push_back(item);
  }
  return items;
}

void check_demand_datasets(const ServiceConfig& config, const ConfigNode& node) {
  const std::vector<std::string> names = config.dataset_names();
  for (const DemandItem& item : config.demand) {
    if (std::find(names.begin(), names.end(), item.dataset) != names.end()) continue;
    std::string known;
    for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
    node["demand"].fail("dataset '" + item.dataset +
                        "' is not configured in evaluation.evaluation.datasets (" + known +
                        "); add it there or remove it from the expectations");
  }
}

}  // namespace

std::vector<std::string> ServiceConfig::dataset_names() const {
  std::vector<std::string> names;
  if (runner == "aisbench") {
    for (const auto& d : aisbench_datasets) names.push_back(d.name);
  } else {
    for (const auto& d : native.datasets) names.push_back(d.name);
  }
  return names;
}

ServiceConfig parse_service_config(const ConfigNode& config, const DatasetFinder& finder) {
  config.require_map();
  config.check_keys({"type", "demand", "evaluation", "inference_engine"});
  ServiceConfig out;
  out.engine = parse_engine(config["inference_engine"]);
  const ConfigNode evaluation = config["evaluation"];
  if (!evaluation.defined()) config.fail("missing required section 'evaluation' (type aisbench or native)");
  evaluation.require_map();
  if (!evaluation.has("type")) evaluation.fail("missing required field 'type' (aisbench or native)");
  out.runner = evaluation.get_choice("type", {"aisbench", "native"}, out.runner);
  if (out.runner == "aisbench") {
    evaluation.check_keys({"type", "aisbench", "datasets", "host", "port", "served_model_name", "precheck"});
    out.aisbench = parse_aisbench(evaluation["aisbench"]);
    out.aisbench_datasets = parse_aisbench_datasets(evaluation["datasets"]);
  } else {
    evaluation.check_keys({"type", "datasets", "host", "port", "served_model_name", "precheck", "concurrency",
                           "request_timeout", "retry"});
    out.native = parse_native(evaluation, finder);
  }
  out.server = parse_server(evaluation);
  out.precheck = parse_precheck(evaluation["precheck"]);
  out.demand = parse_demand(config["demand"]);
  check_demand_datasets(out, config);
  return out;
}

}  // namespace modelslim::service
