// Fuzzes tune plan YAML: parse_yaml_string + parse_tune_plan (expectations, tolerances, the evaluator
// section it clones).
#include "fuzz_support.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/core/tune_plan.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = modelslim::fuzz::as_text(data, size);
  modelslim::fuzz::expect_clean([&] {
    const auto plan = modelslim::core::parse_tune_plan(modelslim::parse_yaml_string(text, "fuzz/plan.yaml"));
    plan.evaluator.keys();
  });
  return 0;
}
