// `command` evaluator: runs a user command on the saved model (e.g. start an inference server and a
// benchmark) and reads the accuracies from the JSON file it writes. A timeout, a non-zero exit or a
// missing/invalid JSON file is a failed result (ok = false, with the reason and the end of the command's
// output), never a crash.
//
//   evaluation:
//     type: command
//     command: "./bench.sh --model {quant_path} --out {output_json}"   # also {model_path}, {work_dir}
//     timeout: 3600                                                      # seconds
// The JSON file: {"metrics": [{"dataset": "gsm8k", "metric": "acc", "value": 83.1, "better": "higher"}]}
// or simply {"gsm8k": 83.1} (accuracy, higher is better).
#pragma once

#include <string>

#include "modelslim/config_node.hpp"
#include "modelslim/evaluator.hpp"

namespace modelslim::eval {

class CommandEvaluator final : public Evaluator {
 public:
  explicit CommandEvaluator(const ConfigNode& config);
  EvaluationResult evaluate(const EvaluationRequest& request) override;
  // The command decides what it measures: not known before it runs.
  std::vector<std::string> dataset_names() const override { return {}; }

 private:
  std::string command_;
  double timeout_seconds_ = 3600;
};

}  // namespace modelslim::eval
