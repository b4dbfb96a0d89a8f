#include "modelslim/core/demand.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/fmt/fmt.h>

#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

const MetricValue* find_metric(const EvaluationResult& result, const Expectation& e) {
  for (const MetricValue& m : result.metrics) {
    if (m.dataset == e.dataset && m.metric == e.metric) return &m;
  }
  return nullptr;
}

ExpectationCheck judge(const std::string& label, double value, double threshold, bool lower_is_better) {
  ExpectationCheck check;
  check.label = label;
  check.found = true;
  check.value = value;
  check.threshold = threshold;
  check.lower_is_better = lower_is_better;
  const double slack = 1e-9 * std::max(1.0, std::abs(threshold));
  check.passed = lower_is_better ? value <= threshold + slack : value >= threshold - slack;
  const double scale = std::max(std::abs(threshold), 1e-12);
  check.margin = (lower_is_better ? threshold - value : value - threshold) / scale;
  return check;
}

}  // namespace

bool needs_baseline(const std::vector<Expectation>& expectations) {
  return std::any_of(expectations.begin(), expectations.end(),
                     [](const Expectation& e) { return e.relative_tolerance.has_value(); });
}

DemandCheck check_demand(const std::vector<Expectation>& expectations, const EvaluationResult& result,
                         const EvaluationResult* baseline) {
  DemandCheck out;
  if (!result.ok) {
    out.summary = "evaluation failed: " + result.message;
    return out;
  }
  out.passed = true;
  out.margin = std::numeric_limits<double>::infinity();
  for (const Expectation& e : expectations) {
    const std::string label = e.dataset + "." + e.metric;
    const MetricValue* measured = find_metric(result, e);
    std::vector<ExpectationCheck> checks;
    if (measured == nullptr) {
      ExpectationCheck missing;
      missing.label = label;
      checks.push_back(missing);
    } else {
      const bool lower = measured->direction == MetricDirection::kLowerIsBetter;
      if (e.target) {
        checks.push_back(
            judge(label, measured->value, lower ? *e.target + e.tolerance : *e.target - e.tolerance, lower));
      }
      if (e.relative_tolerance) {
        const MetricValue* reference = baseline != nullptr ? find_metric(*baseline, e) : nullptr;
        if (reference == nullptr) {
          throw Error(ErrorCode::kSpec,
                      e.field + ": the float model reported no " + label + " to be relative to");
        }
        const double factor = lower ? 1.0 + *e.relative_tolerance : 1.0 - *e.relative_tolerance;
        checks.push_back(judge(label, measured->value, reference->value * factor, lower));
      }
    }
    for (const ExpectationCheck& check : checks) {
      out.passed = out.passed && check.passed;
      out.margin = std::min(out.margin, check.margin);
      out.summary += (out.summary.empty() ? "" : ", ") +
                     (check.found ? fmt::format("{} {:.5g} {} {:.5g} {}", check.label, check.value,
                                                check.lower_is_better ? "<=" : ">=", check.threshold,
                                                check.passed ? "ok" : "FAIL")
                                  : check.label + " not reported FAIL");
      out.checks.push_back(check);
    }
  }
  return out;
}

}  // namespace modelslim::core
