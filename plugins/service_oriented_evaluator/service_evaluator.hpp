// `evaluation.type: service_oriented`: per evaluation, start the inference engine on the model (the
// candidate's saved output, or the float checkpoint for a baseline), run the prechecks, benchmark each
// dataset (ais_bench or the native runner) and stop the engine. The engine's log, the per-sample outputs
// and the scores stay in the evaluation's directory (EvaluationContext; without one, a new directory
// under the system's temporary directory, printed).
//
// What the engine cannot do (its port taken, exiting early, not ready in time, every request failing)
// throws Error: the host reports a failure of the machinery, not of the candidate. A failed precheck is
// the candidate's result: accuracy 0 (perplexity infinite) on every dataset, no benchmark run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "modelslim/evaluation_context.hpp"
#include "modelslim/evaluator.hpp"
#include "service_config.hpp"

namespace modelslim::service {

class ServiceOrientedEvaluator final : public Evaluator, public EvaluationContextSink {
 public:
  ServiceOrientedEvaluator(const ConfigNode& config, const DatasetFinder& finder);
  EvaluationResult evaluate(const EvaluationRequest& request) override;
  std::vector<std::string> dataset_names() const override { return config_.dataset_names(); }
  void set_evaluation_context(const EvaluationContext& context) override { context_ = context; }
  const ServiceConfig& config() const { return config_; }

 private:
  std::filesystem::path take_work_dir(std::string& label);
  std::vector<std::string> datasets_to_run() const;
  MetricValue benchmark(const std::string& dataset, const EvaluationRequest& request,
                        const std::filesystem::path& dir, const std::string& trial) const;

  ServiceConfig config_;
  std::optional<EvaluationContext> context_;
  std::size_t evaluations_ = 0;
};

}  // namespace modelslim::service
