// A tuning plan (`modelslim tune --config PLAN.yaml`): exactly `strategy` and `evaluation`, as in the
// reference. `evaluation` is an evaluator config plus `demand.expectations`, each either absolute
// (target − tolerance, inclusive, as the reference) or relative to the float model (relative_tolerance).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"

namespace modelslim::core {

struct Expectation {
  std::string dataset;
  std::string metric = "acc";
  std::optional<double> target;  // absolute form: passes when within `tolerance` of target
  double tolerance = 0.0;
  std::optional<double> relative_tolerance;  // relative form: within this fraction of the float result
  std::string field;                         // "evaluation.demand.expectations.0", for messages
};

struct TunePlan {
  ConfigNode strategy;
  ConfigNode evaluator;  // the evaluation section without `demand`
  std::vector<Expectation> expectations;
};

// Checks the plan's shape and the demand; the strategy and evaluator sections are validated by their
// plugins. Throws Error(kSchemaValidate) naming file:line:col and the field.
TunePlan parse_tune_plan(const ConfigNode& root);

}  // namespace modelslim::core
