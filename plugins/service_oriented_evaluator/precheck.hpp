// The reference's prechecks, run after the engine is up and before any benchmark: a rule that fails
// fails the candidate at once (every dataset scores 0, the benchmark does not run). A request that gets
// no answer skips that test case with a warning, as in the reference (the benchmark then meets the same
// server and reports what is wrong).
#pragma once

#include <string>
#include <vector>

#include "service_config.hpp"

namespace modelslim::service {

struct PrecheckOutcome {
  bool passed = true;
  std::string reason;  // which rule and case failed, with the answer
};

PrecheckOutcome run_precheck(const std::vector<PrecheckRule>& rules, const Server& server);

}  // namespace modelslim::service
