#include "service_evaluator.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "aisbench_runner.hpp"
#include "engine_command.hpp"
#include "engine_process.hpp"
#include "modelslim/atomic_file.hpp"
#include "modelslim/error.hpp"
#include "native_runner.hpp"
#include "precheck.hpp"

namespace modelslim::service {
namespace {

bool is_perplexity(const ServiceConfig& config, const std::string& dataset) {
  return std::any_of(config.native.datasets.begin(), config.native.datasets.end(),
                     [&](const NativeDataset& d) {
                       return config.runner == "native" && d.name == dataset && d.task == "perplexity";
                     });
}

MetricValue failed_metric(const ServiceConfig& config, const std::string& dataset) {
  if (is_perplexity(config, dataset))
    return {dataset, "ppl", std::numeric_limits<double>::infinity(), MetricDirection::kLowerIsBetter};
  return {dataset, "acc", 0.0, MetricDirection::kHigherIsBetter};
}

void write_summary(const std::filesystem::path& dir, const EvaluationResult& result) {
  nlohmann::json metrics = nlohmann::json::array();
  for (const MetricValue& m : result.metrics)
    metrics.push_back({{"dataset", m.dataset},
                       {"metric", m.metric},
                       {"value", std::isfinite(m.value) ? nlohmann::json(m.value) : nlohmann::json("inf")}});
  const nlohmann::json summary = {{"metrics", metrics}, {"message", result.message}};
  write_file_atomic(dir / "result.json", summary.dump(2) + "\n");
}

}  // namespace

ServiceOrientedEvaluator::ServiceOrientedEvaluator(const ConfigNode& config, const DatasetFinder& finder)
    : config_(parse_service_config(config, finder)) {
  if (config_.runner == "aisbench") require_aisbench(config_.aisbench);
}

std::filesystem::path ServiceOrientedEvaluator::take_work_dir(std::string& label) {
  ++evaluations_;
  std::filesystem::path dir;
  if (context_) {
    dir = context_->work_dir;
    label = context_->label;
    context_.reset();  // one context per evaluation
  } else {
    label = "evaluation-" + std::to_string(evaluations_);
    dir = std::filesystem::temp_directory_path() /
          ("modelslim-service-" + std::to_string(::getpid()) + "-" + std::to_string(evaluations_));
  }
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::string> ServiceOrientedEvaluator::datasets_to_run() const {
  if (config_.demand.empty()) return config_.dataset_names();
  std::vector<std::string> names;
  for (const DemandItem& item : config_.demand) names.push_back(item.dataset);
  return names;
}

MetricValue ServiceOrientedEvaluator::benchmark(const std::string& dataset, const EvaluationRequest& request,
                                                const std::filesystem::path& dir,
                                                const std::string& trial) const {
  if (config_.runner == "aisbench") {
    const auto& all = config_.aisbench_datasets;
    const auto found = std::find_if(all.begin(), all.end(), [&](const auto& d) { return d.name == dataset; });
    const double value =
        run_aisbench_dataset(config_, *found, request.quant_dir.value_or(request.model_dir), dir, trial);
    return {dataset, "acc", value, MetricDirection::kHigherIsBetter};
  }
  const auto& all = config_.native.datasets;
  const auto found = std::find_if(all.begin(), all.end(), [&](const auto& d) { return d.name == dataset; });
  const DatasetScore score = run_native_dataset(*found, config_.native, config_.server, dir);
  if (score.errors > 0)
    spdlog::warn("{}: {} of {} requests failed (counted wrong; see {}.samples.jsonl)", dataset, score.errors,
                 score.samples, dataset);
  return {dataset, score.metric, score.value,
          score.lower_is_better ? MetricDirection::kLowerIsBetter : MetricDirection::kHigherIsBetter};
}

EvaluationResult ServiceOrientedEvaluator::evaluate(const EvaluationRequest& request) {
  std::string label;
  const std::filesystem::path dir = take_work_dir(label);
  const std::vector<std::string> argv = engine_argv(config_.engine, {request.model_dir, request.quant_dir});
  std::printf("[service_oriented] %s: starting %s (log %s)\n  %s\n", label.c_str(),
              config_.engine.type.c_str(), (dir / "engine.log").c_str(), shell_line(argv).c_str());
  std::fflush(stdout);
  EngineProcess engine(config_.engine, argv, dir / "engine.log");
  EvaluationResult result;
  const std::vector<std::string> datasets = datasets_to_run();
  if (const PrecheckOutcome precheck = run_precheck(config_.precheck, config_.server); !precheck.passed) {
    engine.check_running();  // an answer from a dying engine is no verdict on the candidate
    spdlog::warn("{}: {}; the benchmark is skipped", label, precheck.reason);
    for (const std::string& dataset : datasets) result.metrics.push_back(failed_metric(config_, dataset));
    result.message = precheck.reason;
    write_summary(dir, result);
    return result;
  }
  for (std::size_t i = 0; i < datasets.size(); ++i) {
    MetricValue metric;
    try {
      metric = benchmark(datasets[i], request, dir, std::to_string(evaluations_));
    } catch (const Error&) {
      engine.check_running();  // failed requests from an engine that died: say so, not "requests failed"
      throw;
    }
    engine.check_running();
    result.metrics.push_back(metric);
    const auto& threshold = config_.demand.empty() ? std::nullopt : config_.demand[i].threshold;
    if (threshold && metric.value < *threshold - 1e-9 * std::max(1.0, std::abs(*threshold)) &&
        i + 1 < datasets.size()) {
      result.message = datasets[i] + " is below its target; the remaining datasets were skipped (fast fail)";
      break;
    }
  }
  engine.stop();
  write_summary(dir, result);
  return result;
}

}  // namespace modelslim::service
