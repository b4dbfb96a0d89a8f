// Tuning strategies propose candidate quantization practices and learn from their evaluation.
#pragma once

#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "modelslim/evaluator.hpp"

namespace modelslim {

struct Candidate {
  std::string id;       // "<config_id>_<n>"
  YAML::Node practice;  // a full modelslim_v1 PracticeConfig
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  // `last` is the evaluation of the previously proposed candidate (empty on the first call).
  // Returns the next candidate, or nothing when the search is over.
  virtual std::optional<Candidate> next(const std::optional<EvaluationResult>& last) = 0;
};

}  // namespace modelslim
