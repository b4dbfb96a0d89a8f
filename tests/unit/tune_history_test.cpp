// What the tune history stores and keys on: non-finite metrics and quantization warnings survive a round
// trip; content fingerprints change with any byte of the model or a named file (and file_hash equals a
// one-shot XXH3 of the bytes, whatever the chunking); the plan checks made before any model work.
#include "support/doctest.hpp"

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>

#include "modelslim/core/tune_checks.hpp"
#include "modelslim/core/tune_fingerprint.hpp"
#include "modelslim/core/tune_history.hpp"
#include "modelslim/error.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
using namespace modelslim::core;
namespace fs = std::filesystem;

namespace {

// Overwrites `bytes.size()` bytes at `offset`, keeping the file's size.
void patch_file(const fs::path& file, std::size_t offset, const std::string& bytes) {
  std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
  REQUIRE(out);
  out.seekp(static_cast<std::streamoff>(offset));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string error_or_none(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& error) {
    return error.what();
  }
  return "no error";
}

using modelslim::test::contains;

}  // namespace

TEST_CASE("a non-finite metric is stored as a failed measurement and read back as it was") {
  test::TempDir dir("tune-history-nan");
  TuneHistory history(dir / "history.db");
  const std::int64_t run = history.begin_run("plan");
  StoredResult stored;
  stored.key = "k";
  stored.candidate_id = "c_0";
  stored.fallback = {"*model.layers.1.*"};
  stored.result.ok = false;
  stored.result.message = "the evaluation measured a non-finite value: kjv.ppl = nan";
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  stored.result.metrics = {{"kjv", "ppl", nan, MetricDirection::kLowerIsBetter},
                           {"kjv", "acc", -inf, MetricDirection::kHigherIsBetter},
                           {"kjv", "kl", inf, MetricDirection::kLowerIsBetter},
                           {"kjv", "top1", 0.25, MetricDirection::kHigherIsBetter}};
  stored.warnings = {"spec.process.0: pattern '*nothing*' matched no linear layer"};
  history.record_result(run, stored);

  const auto read = TuneHistory(dir / "history.db").find_result("k");
  REQUIRE(read.has_value());
  CHECK_FALSE(read->result.ok);
  CHECK(read->result.message == stored.result.message);
  REQUIRE(read->result.metrics.size() == 4);
  CHECK(std::isnan(read->result.metrics[0].value));
  CHECK(read->result.metrics[1].value == -inf);
  CHECK(read->result.metrics[2].value == inf);
  CHECK(read->result.metrics[3].value == 0.25);
  CHECK(read->result.metrics[0].direction == MetricDirection::kLowerIsBetter);
  CHECK(read->warnings == stored.warnings);
  // A bare null (as older histories wrote NaN) reads as NaN instead of making the history unreadable.
  const EvaluationResult old = result_from_json(std::string(
      R"({"ok": true, "message": "", "metrics": [{"dataset": "d", "metric": "ppl", "value": null}]})"));
  REQUIRE(old.metrics.size() == 1);
  CHECK(std::isnan(old.metrics[0].value));
}

TEST_CASE("file_hash is XXH3-128 of the bytes; the model fingerprint sees one changed byte") {
  test::TempDir dir("tune-fingerprint");
  // Over 16 MiB, so the streaming hash crosses a chunk boundary.
  std::string bytes((std::size_t{16} << 20) + 12345, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  test::write_text(dir / "model" / "model.safetensors", bytes);
  test::write_text(dir / "model" / "config.json", "{\"model_type\": \"llama\"}");
  test::write_text(dir / "model" / "README.md", "not part of the model");
  CHECK(file_hash(dir / "model" / "model.safetensors") == content_hash(bytes));

  const std::string before = model_fingerprint(dir / "model", "llama");
  CHECK(model_fingerprint(dir / "model", "llama") == before);
  CHECK(model_fingerprint(dir / "model", "qwen2") != before);
  test::write_text(dir / "model" / "README.md", "edited");
  CHECK(model_fingerprint(dir / "model", "llama") == before);  // not a model file
  // One weight byte rewritten in place: same size, same names.
  patch_file(dir / "model" / "model.safetensors", bytes.size() - 7,
             std::string(1, static_cast<char>(bytes[bytes.size() - 7] ^ 1)));
  CHECK(fs::file_size(dir / "model" / "model.safetensors") == bytes.size());
  const std::string after = model_fingerprint(dir / "model", "llama");
  CHECK(after != before);
  patch_file(dir / "model" / "config.json", 2, "M");
  CHECK(model_fingerprint(dir / "model", "llama") != after);
}

TEST_CASE("the files a config names are fingerprinted by content") {
  test::TempDir dir("tune-files");
  test::write_text(dir / "calib.jsonl", "{\"text\": \"a\"}\n");
  test::write_text(dir / "score.sh", "echo 1\n");
  const YAML::Node config = YAML::Load(
      "{type: command, command: \"sh " + (dir / "score.sh").string() +
      " {quant_path}\", datasets: [{path: " + (dir / "calib.jsonl").string() + "}], other: not-a-file}");
  FileFingerprints first;
  const std::string before = first.of(config);
  CHECK(contains(before, (dir / "score.sh").string() + "=" + file_hash(dir / "score.sh")));
  CHECK(contains(before, (dir / "calib.jsonl").string() + "=" + file_hash(dir / "calib.jsonl")));
  CHECK_FALSE(contains(before, "not-a-file"));
  test::write_text(dir / "calib.jsonl", "{\"text\": \"b\"}\n");  // same size, new content
  CHECK(FileFingerprints().of(config) != before);
}

TEST_CASE("fallback and rollback names must name modules of the model") {
  const std::vector<std::string> modules = {"lm_head",
                                            "model",
                                            "model.layers",
                                            "model.layers.1",
                                            "model.layers.1.mlp",
                                            "model.layers.1.mlp.down_proj",
                                            "model.layers.1.mlp.down_proj.weight"};
  CHECK(names_some_module("model.layers.1", modules));
  CHECK(names_some_module("*model.layers.1.*", modules));
  CHECK(names_some_module("layers.1", modules));  // as the strategies use it: *layers.1.*
  CHECK(names_some_module("model.layers.{0,1}.mlp", modules));
  CHECK(names_some_module("lm_head", modules));
  CHECK_FALSE(names_some_module("model.layers.7", modules));
  CHECK_FALSE(names_some_module("*model.layers.11.*", modules));
  CHECK_FALSE(names_some_module("model.layers.1.mlp.gate_proj", modules));

  const ConfigNode strategy = parse_yaml_string(
      "type: binary_fallback\nrollback_candidates: [model.layers.1, model.layers.7]\n", "plan.yaml");
  const std::string error = error_or_none([&] { check_rollback_candidates(strategy, modules); });
  CHECK_MESSAGE(contains(error, "plan.yaml:2"), error);
  CHECK_MESSAGE(contains(error, "model.layers.7"), error);
  CHECK_MESSAGE(contains(error, "rollback_candidates.1"), error);  // the second entry, not the first
}

TEST_CASE("the builtin evaluator needs an ascendv1_saver output; a missing dataset lists the search path") {
  const auto savers_error = [](const std::string& yaml, const std::string& evaluator) {
    return error_or_none([&] { check_strategy_savers(parse_yaml_string(yaml, "plan.yaml"), evaluator); });
  };
  const std::string compressed = "template:\n  save: [{type: compressed_tensors}]\n";
  const std::string error = savers_error(compressed, "builtin");
  CHECK_MESSAGE(contains(error, "plan.yaml:2"), error);
  CHECK_MESSAGE(contains(error, "ascendv1_saver"), error);
  CHECK_MESSAGE(contains(error, "compressed_tensors"), error);
  CHECK(savers_error(compressed, "command") == "no error");
  CHECK(savers_error("template:\n  save: [{type: compressed_tensors}, {type: ascendv1_saver}]\n",
                     "builtin") == "no error");
  CHECK(savers_error("template: {process: []}\n", "builtin") == "no error");  // default: ascendv1_saver
  CHECK(savers_error("template:\n  spec:\n    save: []\n", "builtin") == "no error");
  CHECK(contains(savers_error("template:\n  spec:\n    save: [{type: compressed_tensors}]\n", "builtin"),
                 "ascendv1_saver"));
  YAML::Node practice = YAML::Load("{spec: {save: [{type: compressed_tensors}]}}");
  CHECK(contains(error_or_none([&] { check_practice_savers(practice, "c_3", "builtin"); }), "candidate c_3"));

  const ConfigNode strategy =
      parse_yaml_string("template:\n  dataset: no_such_calibration_set.jsonl\n", "plan.yaml");
  const std::string missing = error_or_none([&] { check_strategy_datasets(strategy); });
  CHECK_MESSAGE(contains(missing, "plan.yaml:2"), missing);
  CHECK_MESSAGE(contains(missing, "no_such_calibration_set.jsonl"), missing);
  CHECK_MESSAGE(contains(missing, (test::source_dir() / "data" / "datasets").string()), missing);
  CHECK(error_or_none([&] {
          check_strategy_datasets(parse_yaml_string("template: {dataset: kjv_calib.jsonl}\n", "plan.yaml"));
        }) == "no error");
}
