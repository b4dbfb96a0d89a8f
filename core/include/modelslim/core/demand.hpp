// Judges an evaluation against the accuracy demand. Absolute: higher-is-better metrics pass at
// value ≥ target − tolerance, lower-is-better at value ≤ target + tolerance. Relative: within the given
// fraction of the float model's value. Both inclusive, with a 1e-9 relative slack so that decimal
// boundaries (target 0.95, tolerance 0.01, value 0.94) pass as a user expects.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "modelslim/core/tune_plan.hpp"
#include "modelslim/evaluator.hpp"

namespace modelslim::core {

struct ExpectationCheck {
  std::string label;  // "kjv_eval.ppl"
  bool found = false;
  double value = 0.0;
  double threshold = 0.0;
  bool lower_is_better = false;
  bool passed = false;
  double margin = -std::numeric_limits<double>::infinity();  // (value vs threshold) / |threshold|, > 0 passes
};

struct DemandCheck {
  bool passed = false;
  double margin = -std::numeric_limits<double>::infinity();  // the worst expectation's margin
  std::vector<ExpectationCheck> checks;
  std::string summary;  // "kjv_eval.ppl 3.99 <= 4.01 ok"
};

bool needs_baseline(const std::vector<Expectation>& expectations);

// `baseline`: the float model's result, required when an expectation is relative.
DemandCheck check_demand(const std::vector<Expectation>& expectations, const EvaluationResult& result,
                         const EvaluationResult* baseline);

}  // namespace modelslim::core
