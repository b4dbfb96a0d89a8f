// Evaluators measure a (quantized) model. Used by `eval` and by tuning strategies.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual EvaluationResult evaluate(const EvaluationRequest& request) = 0;
};

}  // namespace modelslim
