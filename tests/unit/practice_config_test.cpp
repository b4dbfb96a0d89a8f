// PracticeConfig parsing: anchors/aliases, top-level extras, unknown keys and type errors with field path and
// line:column, malformed YAML, and the --quant_type practice lookup.
#include "support/doctest.hpp"

#include "modelslim/core/practice_config.hpp"
#include "modelslim/core/practice_repo.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using namespace modelslim::core;

namespace {
std::string parse_error(const std::string& yaml) {
  try {
    parse_practice_config(parse_yaml_string(yaml, "p.yaml"));
  } catch (const Error& error) {
    CHECK(error.code() == ErrorCode::kSchemaValidate);
    return error.what();
  }
  FAIL("expected an error for:\n" << yaml);
  return {};
}
using modelslim::test::contains;
}  // namespace

TEST_CASE("anchors, aliases and top-level extras") {
  const PracticeConfig config = parse_practice_config(parse_yaml_string(R"(apiversion: modelslim_v1
metadata:
  config_id: demo
  score: 90
  label: {w_bit: 8, a_bit: 8, is_sparse: False, kv_cache: false}
  verified_model_types: [llama]
shared_qconfig: &w8a8
  act: {scope: per_tensor, dtype: int8}
  weight: {scope: per_channel, dtype: int8}
spec:
  runner: layer_wise
  process:
    - {type: linear_quant, qconfig: *w8a8}
    - {type: linear_quant, qconfig: *w8a8, include: ["*down_proj"]}
  save: [{type: ascendv1_saver, part_file_size: 0}]
  dataset: calib.jsonl
)",
                                                                        "p.yaml"));
  CHECK(config.metadata.config_id == "demo");
  CHECK(config.metadata.score == 90);
  CHECK(config.metadata.label.w_bit == 8);
  CHECK(config.spec.runner == "layer_wise");
  REQUIRE(config.spec.process.size() == 2);
  CHECK(config.spec.process[1]["qconfig"]["act"]["scope"].as_string() == "per_tensor");
  CHECK(config.spec.process[1].path() == "spec.process.1");
  CHECK(config.spec.dataset == "calib.jsonl");
}

TEST_CASE("errors name the field path and line:column") {
  std::string message = parse_error("apiversion: modelslim_v1\nspec:\n  runner: auto\n  proces: []\n");
  CHECK(contains(message, "p.yaml:4:3"));
  CHECK(contains(message, "spec.proces"));
  CHECK(contains(message, "unknown key 'proces'"));

  message = parse_error("apiversion: modelslim_v1\nmetadata: {score: high}\n");
  CHECK(contains(message, "metadata.score"));
  CHECK(contains(message, "expected a number"));

  message = parse_error("apiversion: modelslim_v1\nspec:\n  runner: fastest\n");
  CHECK(contains(message, "spec.runner"));
  CHECK(contains(message, "layer_wise"));

  message = parse_error("apiversion: modelslim_v1\nspec: [1, 2]\n");
  CHECK(contains(message, "spec: expected a mapping"));

  message = parse_error("apiversion: modelslim_v2\n");
  CHECK(contains(message, "modelslim_v1"));

  message = parse_error("metadata: {}\n");
  CHECK(contains(message, "apiversion"));

  message = parse_error("apiversion: modelslim_v1\nmetadata: {label: {w_bits: 8}}\n");
  CHECK(contains(message, "metadata.label.w_bits"));
}

TEST_CASE("malformed YAML names file and line") {
  try {
    parse_yaml_string("apiversion: modelslim_v1\nspec:\n  process: [ {type: linear_quant\n", "broken.yaml");
    FAIL("expected a syntax error");
  } catch (const Error& error) {
    CHECK(contains(error.what(), "broken.yaml:"));
    CHECK(contains(error.what(), "malformed YAML"));
  }
}

TEST_CASE("--quant_type picks the best-scoring matching practice") {
  CHECK(parse_quant_type("w8a8").w_bit == 8);
  CHECK(parse_quant_type("W8A16").a_bit == 16);
  CHECK_THROWS_AS(parse_quant_type("int8"), Error);
  CHECK(pedigree_of("Qwen3-8B") == "qwen");

  test::TempDir repo("practice-repo");
  const std::string body = "\nspec: {process: []}\n";
  test::write_text(repo / "qwen/a.yaml",
                   "apiversion: modelslim_v1\nmetadata: {config_id: a, score: 80, label: "
                   "{w_bit: 8, a_bit: 8}}" +
                       body);
  test::write_text(repo / "qwen/b.yaml",
                   "apiversion: modelslim_v1\nmetadata: {config_id: b, score: 95, label: "
                   "{w_bit: 8, a_bit: 8}, verified_model_types: [Qwen3-8B]}" +
                       body);
  test::write_text(repo / "qwen/c.yaml",
                   "apiversion: modelslim_v1\nmetadata: {config_id: c, score: 99, label: "
                   "{w_bit: 8, a_bit: 16}}" +
                       body);
  CHECK(find_best_practice({repo.path()}, "Qwen3-8B", "w8a8").filename() == "b.yaml");
  CHECK(find_best_practice({repo.path()}, "qwen2", "w8a8").filename() == "b.yaml");  // same pedigree
  CHECK(find_best_practice({repo.path()}, "Qwen3-8B", "w8a16").filename() == "c.yaml");
  CHECK_THROWS_WITH_AS(find_best_practice({repo.path()}, "Qwen3-8B", "w4a8"),
                       doctest::Contains("no practice"), Error);
  // The shipped lab has default practices for Llama-family models.
  CHECK(find_best_practice({test::source_dir() / "practice_lab"}, "llama", "w8a8").filename() == "w8a8.yaml");
  // ... and W8A8 with an int8 KV cache (dynamic_cache after linear_quant).
  const auto c8 = find_best_practice({test::source_dir() / "practice_lab"}, "qwen3", "w8a8c8");
  CHECK(c8.filename() == "w8a8c8.yaml");
  const PracticeConfig c8_practice = parse_practice_config(parse_yaml_file(c8.string()));
  REQUIRE(c8_practice.spec.process.size() == 2);
  CHECK(c8_practice.spec.process[1]["type"].as_string() == "dynamic_cache");
}

TEST_CASE("two savers in one run are refused: both would write config.json into --save_path") {
  const std::string message = parse_error(
      "apiversion: modelslim_v1\nspec:\n  save:\n    - {type: ascendv1_saver}\n    - {type: "
      "compressed_tensors}\n");
  CHECK(contains(message, "p.yaml:5"));
  CHECK(contains(message, "spec.save.1"));
  CHECK(contains(message, "only one saver per run"));
  CHECK(contains(message, "its own --save_path"));
  // One saver (or none: the default) is fine.
  CHECK_NOTHROW(parse_practice_config(parse_yaml_string(
      "apiversion: modelslim_v1\nspec:\n  save:\n    - {type: compressed_tensors}\n", "p.yaml")));
}

TEST_CASE("--quant_type matches the whole quant type: KV cache, FA and sparse never fall back to plain") {
  const QuantTypeLabel c8 = parse_quant_type("w8a8c8");
  CHECK((c8.w_bit == 8 && c8.a_bit == 8 && c8.kv_cache && c8.fa_bit == 0 && !c8.sparse));
  const QuantTypeLabel f8s = parse_quant_type("W4A8F8S");
  CHECK((f8s.w_bit == 4 && f8s.a_bit == 8 && !f8s.kv_cache && f8s.fa_bit == 8 && f8s.sparse));
  CHECK(parse_quant_type("w8a8f4").fa_bit == 4);
  CHECK_THROWS_AS(parse_quant_type("w8a8c4"), Error);
  CHECK_THROWS_AS(parse_quant_type("w8a8x"), Error);

  test::TempDir repo("practice-repo-whole");
  const auto practice = [&](const std::string& name, const std::string& label) {
    test::write_text(repo / ("llama/" + name + ".yaml"),
                     "apiversion: modelslim_v1\nmetadata: {config_id: " + name + ", label: " + label +
                         "}\nspec: {process: []}\n");
  };
  practice("plain", "{w_bit: 8, a_bit: 8, is_sparse: false, kv_cache: false}");
  practice("kv", "{w_bit: 8, a_bit: 8, kv_cache: true}");
  practice("fa", "{w_bit: 8, a_bit: 8, fa_bit: 8}");
  const std::vector<std::filesystem::path> repos = {repo.path()};
  CHECK(find_best_practice(repos, "llama", "w8a8").filename() == "plain.yaml");
  CHECK(find_best_practice(repos, "llama", "w8a8c8").filename() == "kv.yaml");
  CHECK(find_best_practice(repos, "llama", "w8a8f8").filename() == "fa.yaml");
  // Sparse, KV cache + FA, FA 4 bit: nothing matches; the error lists what exists.
  for (const std::string wanted : {"w8a8s", "w8a8c8s", "w8a8f4"}) {
    try {
      find_best_practice(repos, "llama", wanted);
      FAIL("expected no practice for " << wanted);
    } catch (const Error& error) {
      const std::string text = error.what();
      CHECK_MESSAGE(contains(text, "no practice"), text);
      CHECK_MESSAGE(contains(text, "plain.yaml (w8a8)"), text);
      CHECK_MESSAGE(contains(text, "kv.yaml (w8a8c8)"), text);
      CHECK_MESSAGE(contains(text, "fa.yaml (w8a8f8)"), text);
    }
  }
}
