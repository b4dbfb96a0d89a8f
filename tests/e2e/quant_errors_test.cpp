// Bad input to `modelslim quant`: each case exits non-zero with a message naming the file, field or flag,
// and leaves no output directory behind (acceptance 6 of the vertical slice).
#include "support/doctest.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using modelslim::test::CommandResult;
using modelslim::test::TempDir;
namespace test = modelslim::test;

namespace {

const char* const kQuantErrorsConfig = modelslim::test::kW8A8Practice;

// A random fake_llama checkpoint made with `model_flags`, once per process per flags: fixtures copy it.
const fs::path& quant_errors_pristine_model(const std::string& model_flags) {
  static const TempDir dir{"quant-errors-models"};
  static std::map<std::string, fs::path> made_models;
  const auto found = made_models.find(model_flags);
  if (found != made_models.end()) return found->second;
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / ("model" + std::to_string(made_models.size()));
  const auto made = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                      " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                      " --output " + model.string() + " --seed 1 " + model_flags);
  if (made.exit_code != 0) throw std::runtime_error("make_random_model failed:\n" + made.output);
  return made_models.emplace(model_flags, model).first->second;
}

struct QuantErrorsFixture {
  TempDir dir{"quant-errors"};
  fs::path model = dir / "model";
  fs::path save = dir / "out";
  fs::path config = dir / "config.yaml";

  // Calibration is two short samples: every case is about refusing input, none about the statistics.
  explicit QuantErrorsFixture(const std::string& model_flags = "") {
    fs::copy(quant_errors_pristine_model(model_flags), model, fs::copy_options::recursive);
    test::write_text(dir / "calib.jsonl",
                     "{\"inputs_pretokenized\": \"In the beginning God created the heaven\"}\n"
                     "And the earth was without form, and void.\n");
    write_config(dir / "calib.jsonl");
  }
  void write_config(const fs::path& dataset) {
    test::write_text(config, test::with_dataset(kQuantErrorsConfig, dataset));
  }
  CommandResult quant(const std::string& extra = "") const {
    return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                             " --save_path " + save.string() + " --config_path " + config.string() + " " +
                             extra);
  }
  void expect_failure(const CommandResult& result, const std::vector<std::string>& parts) const {
    CAPTURE(result.output);
    CHECK(result.exit_code != 0);
    for (const auto& part : parts) CHECK_MESSAGE(result.output.find(part) != std::string::npos, part);
    CHECK_FALSE(fs::exists(save));
    for (const auto& entry : fs::directory_iterator(save.parent_path())) {
      CHECK(entry.path().filename().string().find(".partial") == std::string::npos);
    }
  }
};

void truncate_file(const fs::path& file, std::uintmax_t size) {
  fs::resize_file(file, size);
}

}  // namespace

TEST_CASE("the fixture itself quantizes (so every failure below is caused by its one defect)") {
  QuantErrorsFixture f;
  const auto result = f.quant();
  CHECK_MESSAGE(result.exit_code == 0, result.output);
  CHECK(fs::exists(f.save / "quant_model_description.json"));
}

TEST_CASE("malformed YAML") {
  QuantErrorsFixture f;
  test::write_text(f.config, "apiversion: modelslim_v1\nspec:\n  process: [ {type: linear_quant\n");
  f.expect_failure(f.quant(), {f.config.string() + ":", "malformed YAML"});
}

TEST_CASE("unknown key") {
  QuantErrorsFixture f;
  test::write_text(f.config, "apiversion: modelslim_v1\nspec:\n  runer: auto\n");
  f.expect_failure(f.quant(), {f.config.string() + ":3:3", "spec.runer", "unknown key"});
}

TEST_CASE("wrong type") {
  QuantErrorsFixture f;
  test::write_text(f.config, std::string(kQuantErrorsConfig)
                                 .replace(std::string(kQuantErrorsConfig).find("symmetric: false"), 16,
                                          "symmetric: sometimes"));
  f.expect_failure(f.quant(), {"spec.process.0.qconfig.act.symmetric", "expected true or false"});
}

TEST_CASE("unknown processor type lists the known types") {
  QuantErrorsFixture f;
  test::write_text(f.config,
                   "apiversion: modelslim_v1\nspec:\n  process:\n    - {type: smooth_everything}\n");
  f.expect_failure(f.quant(),
                   {"spec.process.0.type", "unknown processor type 'smooth_everything'", "linear_quant"});
}

TEST_CASE("truncated safetensors") {
  QuantErrorsFixture f;
  const fs::path weights = f.model / "model.safetensors";
  truncate_file(weights, fs::file_size(weights) / 2);
  f.expect_failure(f.quant(), {"model.safetensors"});
}

TEST_CASE("header offsets beyond the file") {
  QuantErrorsFixture f;
  const fs::path weights = f.model / "model.safetensors";
  std::string bytes = test::read_text(weights);
  // Rewrite the first data_offsets end with a huge value of the same width, keeping the header length.
  const auto pos = bytes.find("\"data_offsets\":[");
  REQUIRE(pos != std::string::npos);
  const auto comma = bytes.find(',', pos);
  const auto close = bytes.find(']', comma);
  bytes.replace(comma + 1, close - comma - 1, std::string(close - comma - 1, '9'));
  test::write_text(weights, bytes);
  f.expect_failure(f.quant(), {"model.safetensors"});
}

TEST_CASE("missing tokenizer.json") {
  QuantErrorsFixture f;
  fs::remove(f.model / "tokenizer.json");
  f.expect_failure(f.quant(), {"tokenizer.json"});
}

TEST_CASE("missing dataset") {
  QuantErrorsFixture f;
  f.write_config(f.dir / "no_such_calib.jsonl");
  f.expect_failure(f.quant(), {"no_such_calib.jsonl"});
}

TEST_CASE("empty dataset") {
  QuantErrorsFixture f;
  test::write_text(f.dir / "empty.jsonl", "\n\n");
  f.write_config(f.dir / "empty.jsonl");
  f.expect_failure(f.quant(), {"empty.jsonl"});
}

TEST_CASE("save_path not writable") {
  QuantErrorsFixture f;
  test::write_text(f.dir / "a_file", "x");
  const auto result = test::run_command(
      test::modelslim_bin().string() + " quant --model_path " + f.model.string() + " --save_path " +
      (f.dir / "a_file" / "out").string() + " --config_path " + f.config.string());
  CHECK(result.exit_code != 0);
  CHECK_MESSAGE(result.output.find("--save_path") != std::string::npos, result.output);
  CHECK_FALSE(fs::exists(f.dir / "a_file" / "out"));
}

TEST_CASE("bad flags exit 2 naming the flag") {
  QuantErrorsFixture f;
  auto result = f.quant("--trust_remote_code maybe");
  CHECK(result.exit_code == 2);
  CHECK(result.output.find("--trust_remote_code") != std::string::npos);
  result = test::run_command(test::modelslim_bin().string() + " quant --model_path " + f.model.string());
  CHECK(result.exit_code == 2);
  CHECK(result.output.find("--save_path") != std::string::npos);
  result = f.quant("--no_such_flag 1");
  CHECK(result.exit_code == 2);
  CHECK(result.output.find("no_such_flag") != std::string::npos);
}

TEST_CASE("a model type no adapter handles is refused, listing the supported ones") {
  QuantErrorsFixture f;
  // --model_type names no adapter: config.json (llama) decides, exactly (the name may be a practice's).
  nlohmann::json config = modelslim::read_json_file(f.model / "config.json");
  config["model_type"] = "gpt2";
  config["architectures"] = {"GPT2LMHeadModel"};
  modelslim::write_json_file_atomic(f.model / "config.json", config);
  const auto result = f.quant("--model_type gpt2");
  CHECK(result.exit_code == 1);
  CHECK_MESSAGE(result.output.find("supported") != std::string::npos, result.output);
  CHECK(result.output.find("llama (llama, mistral") != std::string::npos);
  CHECK(result.output.find("docs/plugin-sdk.md") != std::string::npos);
}

TEST_CASE("a failure midway (a corrupt shard holding only a later block) removes the partial output") {
  QuantErrorsFixture f("--shard-size-mb 1");
  // A shard with block tensors only, none of block 0: the savers read the embedding, final norm and lm_head
  // before block 1 starts, so a shard holding one of those would fail the run before any block.
  const nlohmann::json weight_map =
      modelslim::read_json_file(f.model / "model.safetensors.index.json").at("weight_map");
  std::set<std::string> unusable;
  for (const auto& [name, file] : weight_map.items()) {
    if (name.rfind("model.layers.", 0) != 0 || name.rfind("model.layers.0.", 0) == 0) unusable.insert(file);
  }
  std::string shard;
  for (const auto& [name, file] : weight_map.items()) {
    if (unusable.count(file) == 0) shard = file.get<std::string>();
  }
  REQUIRE_MESSAGE(!shard.empty(), weight_map.dump());
  truncate_file(f.model / shard, fs::file_size(f.model / shard) - 16);
  const auto result = f.quant();
  f.expect_failure(result, {shard});
  CHECK(result.output.find("block 1/3") != std::string::npos);  // it really failed after starting
}
