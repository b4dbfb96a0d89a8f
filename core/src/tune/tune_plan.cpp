#include "modelslim/core/tune_plan.hpp"

namespace modelslim::core {
namespace {

Expectation parse_expectation(const ConfigNode& node) {
  node.require_map();
  node.check_keys({"dataset", "metric", "target", "tolerance", "relative_tolerance"});
  Expectation e;
  e.field = node.path();
  if (!node.has("dataset")) node.fail("missing required field 'dataset'");
  e.dataset = node["dataset"].as_string();
  e.metric = node.get_string("metric", e.metric);
  if (node.has("target")) e.target = node["target"].as_double();
  e.tolerance = node.get_double("tolerance", 0.0);
  if (e.tolerance < 0.0) node["tolerance"].fail("must be >= 0");
  if (node.has("relative_tolerance")) {
    e.relative_tolerance = node["relative_tolerance"].as_double();
    if (*e.relative_tolerance < 0.0) node["relative_tolerance"].fail("must be >= 0 (0.01 = within 1%)");
  }
  if (!e.target && !e.relative_tolerance) {
    node.fail("needs 'target' (with optional 'tolerance') or 'relative_tolerance' (against the float model)");
  }
  if (node.has("tolerance") && !e.target) node["tolerance"].fail("applies to 'target', which is missing");
  return e;
}

}  // namespace

TunePlan parse_tune_plan(const ConfigNode& root) {
  root.require_map();
  root.check_keys({"strategy", "evaluation"});
  if (!root.has("strategy")) root.fail("missing required section 'strategy'");
  if (!root.has("evaluation")) root.fail("missing required section 'evaluation'");
  const ConfigNode strategy = root["strategy"];
  strategy.require_map();
  const ConfigNode evaluation = root["evaluation"];
  evaluation.require_map();
  if (!evaluation.has("demand")) evaluation.fail("missing required field 'demand' (with expectations)");
  const ConfigNode demand = evaluation["demand"];
  demand.require_map();
  demand.check_keys({"expectations"});
  if (!demand.has("expectations")) demand.fail("missing required field 'expectations'");
  const ConfigNode list = demand["expectations"];
  list.require_sequence();
  if (list.size() == 0)
    list.fail("needs at least one expectation {dataset, metric, target | relative_tolerance}");

  std::vector<Expectation> expectations;
  for (const ConfigNode& item : list.items()) expectations.push_back(parse_expectation(item));
  // The evaluator sees its own section only. service_oriented keeps the demand, as in the reference: it
  // benchmarks the demanded datasets in order and stops at the first that misses its target (fast fail).
  YAML::Node evaluator = YAML::Clone(evaluation.yaml());
  if (evaluation.get_string("type", "") != "service_oriented") evaluator.remove("demand");
  return TunePlan{strategy, ConfigNode(evaluator, evaluation.path(), evaluation.file()),
                  std::move(expectations)};
}

}  // namespace modelslim::core
