#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_commands.hpp"
#include "modelslim/atomic_file.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/core/tune_history.hpp"

namespace po = boost::program_options;

namespace modelslim::core {
namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::string yaml_quote(const std::string& text) {
  return nlohmann::json(text).dump();
}  // JSON strings are YAML

}  // namespace

int run_eval_command(const std::vector<std::string>& args) {
  po::options_description options(
      "modelslim eval --model_path DIR [--quant_path SAVED_DIR] --dataset FILE [--metrics ppl,acc,...] "
      "[--json OUT]");
  options.add_options()("help,h", "show this help")("model_path", po::value<std::string>(),
                                                    "float checkpoint")(
      "quant_path", po::value<std::string>(),
      "a saved ascendv1 artifact of that model (evaluated as deployed)")(
      "dataset", po::value<std::vector<std::string>>()->composing(), "evaluation file (repeatable)")(
      "metrics", po::value<std::string>()->default_value("ppl,acc"),
      "comma list: ppl, acc (next token), choice_acc (multiple choice), fidelity (top-1 agreement and KL)")(
      "json", po::value<std::string>(), "also write the results as JSON")(
      "model_type", po::value<std::string>()->default_value(""), "model type (default: config.json)")(
      "max_samples", po::value<std::int64_t>()->default_value(0),
      "evaluate at most this many samples (0 = all)")(
      "max_tokens", po::value<std::int64_t>()->default_value(512), "truncate samples to this many tokens")(
      "dump_logits", po::value<std::string>(),
      "write the per-token logits to DIR/float.safetensors and DIR/quantized.safetensors "
      "(\"<dataset>.<i>.logits\", \"<dataset>.<i>.ids\")");
  add_common_options(options);
  const auto parsed =
      parse_command_line(args, options,
                         "\nexample:\n  modelslim eval --model_path demo --quant_path out/demo-w8a8 "
                         "--dataset data/datasets/kjv_eval.jsonl --metrics ppl,acc,fidelity\n");
  if (!parsed) return 0;
  const po::variables_map& values = *parsed;
  require_flags(values, {"model_path", "dataset"});
  const std::vector<std::string> metrics = split_list(values["metrics"].as<std::string>());
  if (metrics.empty()) throw UsageError("--metrics must name at least one metric");

  std::string yaml =
      "type: builtin\nmax_samples: " + std::to_string(values["max_samples"].as<std::int64_t>()) +
      "\nmax_tokens: " + std::to_string(values["max_tokens"].as<std::int64_t>()) + "\n";
  if (values.count("dump_logits"))
    yaml += "dump_logits: " + yaml_quote(values["dump_logits"].as<std::string>()) + "\n";
  yaml += "datasets:\n";
  for (const auto& dataset : values["dataset"].as<std::vector<std::string>>()) {
    yaml += "  - {path: " + yaml_quote(dataset) + ", metrics: [";
    for (std::size_t i = 0; i < metrics.size(); ++i) yaml += (i ? ", " : "") + yaml_quote(metrics[i]);
    yaml += "]}\n";
  }
  PluginRegistry registry;
  apply_common_options(values, registry);
  const auto evaluator = registry.create_evaluator(parse_yaml_string(yaml, "--dataset/--metrics"));
  EvaluationRequest request;
  request.model_dir = values["model_path"].as<std::string>();
  request.model_type = values["model_type"].as<std::string>();
  const EvaluationResult float_result = evaluator->evaluate(request);
  EvaluationResult quant_result;
  const bool quantized = values.count("quant_path") > 0;
  if (quantized) {
    request.quant_dir = values["quant_path"].as<std::string>();
    quant_result = evaluator->evaluate(request);
  }

  std::printf("%-16s %-12s %12s %12s %12s\n", "DATASET", "METRIC", "FLOAT", "QUANTIZED", "DELTA");
  for (const MetricValue& q : quantized ? quant_result.metrics : float_result.metrics) {
    const MetricValue* f = nullptr;
    for (const auto& candidate : float_result.metrics) {
      if (candidate.dataset == q.dataset && candidate.metric == q.metric) f = &candidate;
    }
    if (!quantized) {
      std::printf("%-16s %-12s %12.5f %12s %12s\n", q.dataset.c_str(), q.metric.c_str(), q.value, "-", "-");
    } else if (f != nullptr) {
      std::printf("%-16s %-12s %12.5f %12.5f %+12.5f\n", q.dataset.c_str(), q.metric.c_str(), f->value,
                  q.value, q.value - f->value);
    } else {  // fidelity metrics exist only for the quantized model
      std::printf("%-16s %-12s %12s %12.5f %12s\n", q.dataset.c_str(), q.metric.c_str(), "-", q.value, "-");
    }
  }
  if (values.count("json")) {
    nlohmann::json out = {{"float", metrics_to_json(float_result.metrics)}};
    if (quantized) out["quantized"] = metrics_to_json(quant_result.metrics);
    const std::string path = values["json"].as<std::string>();
    write_file_atomic(path, out.dump(2) + "\n");
  }
  return 0;
}

}  // namespace modelslim::core
