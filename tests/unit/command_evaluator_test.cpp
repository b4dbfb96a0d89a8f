// The command evaluator: results read from the JSON the command writes; timeout, non-zero exit and missing or
// invalid JSON are clear failed results, not crashes.
#include "support/doctest.hpp"

#include <chrono>

#include <nlohmann/json.hpp>

#include "command_evaluator.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using eval::CommandEvaluator;

namespace {
EvaluationResult run(const std::string& command, double timeout = 10) {
  const std::string yaml = "{type: command, command: " + nlohmann::json(command).dump() +
                           ", timeout: " + std::to_string(timeout) + "}";
  CommandEvaluator evaluator(parse_yaml_string(yaml, "plan.yaml"));
  return evaluator.evaluate(
      EvaluationRequest{"/models/float dir", std::filesystem::path("/models/quant"), "llama"});
}
using modelslim::test::contains;
}  // namespace

TEST_CASE("metrics come from the JSON file, placeholders are filled and quoted") {
  const auto result =
      run(R"(test {model_path} = "/models/float dir" && test {quant_path} = /models/quant && )"
          R"(echo '{"metrics": [{"dataset": "gsm8k", "metric": "acc", "value": 83.5}, )"
          R"({"dataset": "wiki", "metric": "ppl", "value": 5.25, "better": "lower"}]}' > {output_json})");
  REQUIRE_MESSAGE(result.ok, result.message);
  REQUIRE(result.metrics.size() == 2);
  CHECK(result.metrics[0].value == 83.5);
  CHECK(result.metrics[1].direction == MetricDirection::kLowerIsBetter);
  const auto simple = run(R"(echo '{"boolq": 0.71}' > {output_json})");
  REQUIRE(simple.ok);
  CHECK(simple.metrics[0].dataset == "boolq");
  CHECK(simple.metrics[0].metric == "acc");
}

TEST_CASE("a command that times out is stopped and reported") {
  const auto start = std::chrono::steady_clock::now();
  const auto result = run("echo starting; sleep 30", 0.5);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_FALSE(result.ok);
  CHECK(contains(result.message, "timed out"));
  CHECK(contains(result.message, "starting"));  // the command's own output is shown
  CHECK(seconds < 10);
}

TEST_CASE("non-zero exit, no JSON, invalid JSON") {
  auto result = run("echo boom >&2; exit 3");
  CHECK_FALSE(result.ok);
  CHECK(contains(result.message, "exit code 3"));
  CHECK(contains(result.message, "boom"));
  result = run("true");
  CHECK_FALSE(result.ok);
  CHECK(contains(result.message, "wrote no results"));
  result = run("echo 'not json' > {output_json}");
  CHECK_FALSE(result.ok);
  CHECK(contains(result.message, "invalid results file"));
  result = run(R"(echo '{"gsm8k": "high"}' > {output_json})");
  CHECK_FALSE(result.ok);
  CHECK(contains(result.message, "not a number"));
}

TEST_CASE("config errors name the field") {
  CHECK_THROWS_WITH_AS(CommandEvaluator(parse_yaml_string("{type: command}", "plan.yaml")),
                       doctest::Contains("missing required field 'command'"), Error);
  CHECK_THROWS_WITH_AS(
      CommandEvaluator(parse_yaml_string("{type: command, command: x, timeout: -1}", "plan.yaml")),
      doctest::Contains("timeout"), Error);
}
