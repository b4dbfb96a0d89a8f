// Evaluators measure a (quantized) model. Used by `eval` and by tuning strategies.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

enum class MetricDirection { kHigherIsBetter, kLowerIsBetter };

struct MetricValue {
  std::string dataset;
  std::string metric;  // e.g. "ppl", "acc"
  double value = 0.0;
  MetricDirection direction = MetricDirection::kHigherIsBetter;
};

struct EvaluationRequest {
  std::filesystem::path model_dir;                 // float checkpoint
  std::optional<std::filesystem::path> quant_dir;  // saved quantized artifact; empty = evaluate float
  std::string model_type;
};

struct EvaluationResult {
  bool ok = true;  // false: the evaluation itself failed (timeout, crash); see message
  std::string message;
  std::vector<MetricValue> metrics;
};

class MODELSLIM_SDK_API Evaluator {
 public:
  virtual ~Evaluator();  // key function, defined in sdk/src (see export.hpp)
  virtual EvaluationResult evaluate(const EvaluationRequest& request) = 0;
  // Since ABI 4.0: the dataset names this evaluator reports metrics for, so an accuracy demand naming
  // another one is refused before any work starts. Empty: not known in advance (e.g. a user command).
  virtual std::vector<std::string> dataset_names() const = 0;
};

}  // namespace modelslim
