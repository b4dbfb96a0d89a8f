// The accuracy demand (absolute as the reference, relative to the float model), the plan schema, the
// history database and the timeout syntax, each against hand-derived cases.
#include "support/doctest.hpp"

#include "modelslim/core/demand.hpp"
#include "modelslim/core/tune_history.hpp"
#include "modelslim/core/tune_plan.hpp"
#include "modelslim/core/tune_service.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using namespace modelslim::core;

namespace {

EvaluationResult result_of(double value, MetricDirection direction, const std::string& metric = "acc") {
  EvaluationResult result;
  result.metrics.push_back({"gsm8k", metric, value, direction});
  return result;
}

Expectation absolute(double target, double tolerance, const std::string& metric = "acc") {
  Expectation e;
  e.dataset = "gsm8k";
  e.metric = metric;
  e.target = target;
  e.tolerance = tolerance;
  return e;
}

std::string plan_error(const std::string& text) {
  try {
    parse_tune_plan(parse_yaml_string(text, "plan.yaml"));
  } catch (const Error& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("absolute demand: inclusive at target - tolerance (the reference's decimal boundary)") {
  const auto hi = MetricDirection::kHigherIsBetter;
  CHECK(check_demand({absolute(0.95, 0.01)}, result_of(0.94, hi), nullptr).passed);
  CHECK_FALSE(check_demand({absolute(0.95, 0.01)}, result_of(0.9399, hi), nullptr).passed);
  CHECK(check_demand({absolute(83, 2)}, result_of(81, hi), nullptr).passed);
  CHECK_FALSE(check_demand({absolute(83, 2)}, result_of(80.99, hi), nullptr).passed);
  // Lower-is-better metrics pass at or below target + tolerance.
  const auto lo = MetricDirection::kLowerIsBetter;
  CHECK(check_demand({absolute(4.0, 0.1, "ppl")}, result_of(4.1, lo, "ppl"), nullptr).passed);
  CHECK_FALSE(check_demand({absolute(4.0, 0.1, "ppl")}, result_of(4.1001, lo, "ppl"), nullptr).passed);
}

TEST_CASE("relative demand: within the fraction of the float model's result, in the metric's direction") {
  Expectation e;
  e.dataset = "gsm8k";
  e.metric = "ppl";
  e.relative_tolerance = 0.01;
  const auto lo = MetricDirection::kLowerIsBetter;
  const EvaluationResult baseline = result_of(4.0, lo, "ppl");
  const DemandCheck pass = check_demand({e}, result_of(4.04, lo, "ppl"), &baseline);
  CHECK(pass.passed);
  CHECK(pass.checks.at(0).threshold == doctest::Approx(4.04));
  CHECK(pass.margin == doctest::Approx(0.0).epsilon(1e-9));
  CHECK_FALSE(check_demand({e}, result_of(4.0401, lo, "ppl"), &baseline).passed);
  // Higher is better: 1% below float at most.
  e.metric = "acc";
  const EvaluationResult acc_baseline = result_of(0.8, MetricDirection::kHigherIsBetter);
  CHECK(check_demand({e}, result_of(0.792, MetricDirection::kHigherIsBetter), &acc_baseline).passed);
  CHECK_FALSE(check_demand({e}, result_of(0.7919, MetricDirection::kHigherIsBetter), &acc_baseline).passed);
}

TEST_CASE("failed evaluations and missing metrics never pass; the margin orders near misses") {
  EvaluationResult failed;
  failed.ok = false;
  failed.message = "server crashed";
  const DemandCheck crashed = check_demand({absolute(1, 0)}, failed, nullptr);
  CHECK_FALSE(crashed.passed);
  CHECK(crashed.summary.find("server crashed") != std::string::npos);
  const DemandCheck missing =
      check_demand({absolute(1, 0, "f1")}, result_of(5, MetricDirection::kHigherIsBetter), nullptr);
  CHECK_FALSE(missing.passed);
  CHECK(missing.summary.find("gsm8k.f1 not reported") != std::string::npos);
  const double near =
      check_demand({absolute(0.9, 0)}, result_of(0.89, MetricDirection::kHigherIsBetter), nullptr).margin;
  const double far =
      check_demand({absolute(0.9, 0)}, result_of(0.5, MetricDirection::kHigherIsBetter), nullptr).margin;
  CHECK(near > far);
  CHECK(near == doctest::Approx(-0.01 / 0.9));
}

TEST_CASE(
    "plan schema: exactly strategy and evaluation, expectations validated, demand kept from the evaluator") {
  const std::string good =
      "strategy: {type: standing_high}\nevaluation:\n  type: builtin\n  datasets: []\n"
      "  demand: {expectations: [{dataset: d, metric: ppl, relative_tolerance: 0.01}, {dataset: d, target: "
      "0.5}]}\n";
  const TunePlan plan = parse_tune_plan(parse_yaml_string(good, "plan.yaml"));
  REQUIRE(plan.expectations.size() == 2);
  CHECK(plan.expectations[0].relative_tolerance == 0.01);
  CHECK(plan.expectations[1].metric == "acc");  // the reference's only metric is accuracy
  CHECK(plan.expectations[1].field == "evaluation.demand.expectations.1");
  CHECK_FALSE(plan.evaluator.has("demand"));
  CHECK(plan.evaluator.has("datasets"));

  CHECK(
      plan_error(
          "strategy: {type: x}\nevaluation: {demand: {expectations: [{dataset: d, target: 1}]}}\nextra: 1\n")
          .find("extra") != std::string::npos);
  CHECK(plan_error("evaluation: {demand: {expectations: [{dataset: d, target: 1}]}}\n").find("strategy") !=
        std::string::npos);
  CHECK(plan_error("strategy: {type: x}\nevaluation: {type: builtin}\n").find("demand") != std::string::npos);
  CHECK(plan_error("strategy: {type: x}\nevaluation: {demand: {expectations: []}}\n").find("at least one") !=
        std::string::npos);
  CHECK(plan_error("strategy: {type: x}\nevaluation: {demand: {expectations: [{dataset: d}]}}\n")
            .find("relative_tolerance") != std::string::npos);
  CHECK(plan_error("strategy: {type: x}\nevaluation: {demand: {expectations: [{dataset: d, tolerance: 1, "
                   "relative_tolerance: 0.1}]}}\n")
            .find("tolerance") != std::string::npos);
  const std::string negative = plan_error(
      "strategy: {type: x}\nevaluation: {demand: {expectations: [{dataset: d, target: 1, tolerance: "
      "-1}]}}\n");
  CHECK(negative.find("evaluation.demand.expectations.0.tolerance") != std::string::npos);
  CHECK(negative.find("plan.yaml:") != std::string::npos);
}

TEST_CASE("history: results survive reopening, evaluations are counted, keys hash the text") {
  test::TempDir dir("tune-history");
  const auto file = dir / "history" / "history.db";
  StoredResult stored;
  stored.key = "k1";
  stored.candidate_id = "c_0";
  stored.practice_yaml = "spec: {}";
  stored.fallback = {"*model.layers.1.*"};
  stored.anti_outlier = "iter_smooth";
  stored.result = result_of(0.75, MetricDirection::kHigherIsBetter);
  stored.seconds = 1.5;
  {
    TuneHistory history(file);
    const auto run = history.begin_run("plan");
    CHECK_FALSE(history.find_result("k1"));
    history.record_result(run, stored);
    history.record_proposal(run, {1, "k1", "c_0", false});
    history.put_cached("rank", "[1]");
  }
  TuneHistory reopened(file);
  const auto found = reopened.find_result("k1");
  REQUIRE(found);
  CHECK(found->candidate_id == "c_0");
  CHECK(found->fallback == stored.fallback);
  CHECK(found->result.metrics.at(0).value == 0.75);
  CHECK(found->result.metrics.at(0).direction == MetricDirection::kHigherIsBetter);
  CHECK(reopened.cached("rank") == std::string("[1]"));
  CHECK(reopened.begin_run("plan") == 2);
  CHECK(reopened.proposals(1).size() == 1);
  CHECK(reopened.proposals(2).empty());

  CHECK(content_hash("abc") == content_hash("abc"));
  CHECK(content_hash("abc") != content_hash("abd"));
  CHECK(content_hash("").size() == 32);
}

TEST_CASE("timeouts: the reference's D/H/M/S form and plain seconds") {
  CHECK(parse_timeout("1D2H30M10S") == 86400 + 2 * 3600 + 30 * 60 + 10);
  CHECK(parse_timeout("2H30M") == 9000);
  CHECK(parse_timeout("90s") == 90);
  CHECK(parse_timeout("45") == 45);
  CHECK_THROWS_AS(parse_timeout("2 hours"), Error);
  CHECK_THROWS_AS(parse_timeout(""), Error);
}
