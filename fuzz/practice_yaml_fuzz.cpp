// Fuzzes YAML practice configs: the YAML parser behind ConfigNode, a walk of every accessor over the tree
// (as plugins validate their own sections), and parse_practice_config.
#include "fuzz_support.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/core/practice_config.hpp"

namespace {

// Visits at most `budget` nodes: anchors can share a subtree many times, and the walk must stay linear.
void walk(const modelslim::ConfigNode& node, int depth, int& budget) {
  if (--budget < 0 || depth > 64) return;
  modelslim::fuzz::expect_clean([&] { node.as_string(); });
  modelslim::fuzz::expect_clean([&] { node.as_double(); });
  modelslim::fuzz::expect_clean([&] { node.as_int(); });
  modelslim::fuzz::expect_clean([&] { node.as_bool(); });
  modelslim::fuzz::expect_clean([&] { node.as_string_list(); });
  modelslim::fuzz::expect_clean([&] { node.check_keys({"type", "spec"}); });
  node.location();
  if (node.is_sequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) walk(node.at(i), depth + 1, budget);
  }
  for (const std::string& key : node.keys()) walk(node[key], depth + 1, budget);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = modelslim::fuzz::as_text(data, size);
  modelslim::fuzz::expect_clean([&] {
    const modelslim::ConfigNode root = modelslim::parse_yaml_string(text, "fuzz/practice.yaml");
    int budget = 256;  // each visited node throws a few Errors; keep executions fast
    walk(root, 0, budget);
    modelslim::core::parse_practice_config(root);
  });
  return 0;
}
