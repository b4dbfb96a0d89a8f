// Numbers quant must refuse or limit: a NaN in a checkpoint weight, an activation that overflows to inf
// (each an error naming the tensor, exit != 0, nothing written), and calibration samples longer than the
// model's context (cut to max_position_embeddings / --max_calib_tokens, said once in the log).
#include "support/doctest.hpp"

#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/dataset.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using modelslim::test::CommandResult;
using modelslim::test::TempDir;
namespace test = modelslim::test;

namespace {

const char* const kNumericsConfig = modelslim::test::kW8A8Practice;

fs::path calib_dataset() {
  return test::shared_dir() / "data" / "msmodelslim_lab_calib" / "mix_calib.jsonl";
}

// A random fake_llama checkpoint made with `model_flags`, once per process per flags: fixtures copy it.
const fs::path& numerics_pristine_model(const std::string& model_flags) {
  static const TempDir dir{"numerics-models"};
  static std::map<std::string, fs::path> made_models;
  const auto found = made_models.find(model_flags);
  if (found != made_models.end()) return found->second;
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / ("model" + std::to_string(made_models.size()));
  const auto made =
      test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                        fake.string() + " --output " + model.string() + " --seed 1 " + model_flags);
  if (made.exit_code != 0) throw std::runtime_error("make_random_model failed:\n" + made.output);
  return made_models.emplace(model_flags, model).first->second;
}

struct NumericsFixture {
  TempDir dir{"numerics"};
  fs::path model = dir / "model";
  fs::path config = dir / "config.yaml";

  explicit NumericsFixture(const std::string& model_flags) {
    fs::copy(numerics_pristine_model(model_flags), model, fs::copy_options::recursive);
    write_config(calib_dataset());
  }
  void write_config(const fs::path& dataset) const {
    test::write_text(config, test::with_dataset(kNumericsConfig, dataset));
  }
  // Two short samples, for the cases that stop at the first bad number (calibration size is not their point).
  void use_short_dataset() const {
    test::write_text(dir / "short.jsonl",
                     "{\"inputs_pretokenized\": \"In the beginning God created the heaven\"}\n"
                     "And the earth was without form, and void.\n");
    write_config(dir / "short.jsonl");
  }
  CommandResult quant(const fs::path& save, const std::string& extra = "") const {
    return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                             " --save_path " + save.string() + " --config_path " + config.string() + " " +
                             extra);
  }
  // Rewrites model.safetensors with `change` applied to the named tensor.
  template <typename Change>
  void rewrite_tensor(const std::string& name, Change change) const {
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    {
      const auto file = modelslim::SafetensorsFile::open(model / "model.safetensors");
      for (const auto& info : file->tensors()) tensors.emplace_back(info.name, file->load(info.name));
    }
    bool found = false;
    for (auto& [tensor_name, tensor] : tensors) {
      if (tensor_name != name) continue;
      change(tensor);
      found = true;
    }
    REQUIRE_MESSAGE(found, name);
    modelslim::save_safetensors(model / "model.safetensors", tensors);
  }
};

void expect_refused(const CommandResult& result, const fs::path& save,
                    const std::vector<std::string>& parts) {
  CAPTURE(result.output);
  CHECK(result.exit_code != 0);
  for (const auto& part : parts) CHECK_MESSAGE(result.output.find(part) != std::string::npos, part);
  CHECK_FALSE(fs::exists(save));
  for (const auto& entry : fs::directory_iterator(save.parent_path())) {
    CHECK(entry.path().filename().string().find(".partial") == std::string::npos);
  }
}

std::string file_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a NaN in a checkpoint weight is refused naming the tensor; nothing is written") {
  NumericsFixture f("--byte-tokenizer --set vocab_size=260");
  f.use_short_dataset();
  f.rewrite_tensor("model.layers.1.mlp.down_proj.weight",
                   [](at::Tensor& t) { t.view({-1})[37] = std::numeric_limits<float>::quiet_NaN(); });
  const fs::path save = f.dir / "out";
  expect_refused(f.quant(save), save, {"'model.layers.1.mlp.down_proj.weight'", "nan at [0, 37]"});
}

TEST_CASE("an activation that overflows to inf is refused naming the linear, the sample and the block") {
  NumericsFixture f("--byte-tokenizer --set vocab_size=260");
  f.use_short_dataset();
  // gate and up of block 0 scaled by 1e25 each: their product (down_proj's input) is ~1e48 > float max.
  for (const char* name : {"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight"}) {
    f.rewrite_tensor(name, [](at::Tensor& t) { t.mul_(1e25); });
  }
  const fs::path save = f.dir / "out";
  expect_refused(f.quant(save), save,
                 {"block model.layers.0, calibration sample 1 (counting from 1)",
                  "the input of model.layers.0.mlp.down_proj holds non-finite values"});
}

TEST_CASE("calibration samples are cut to max_position_embeddings, as if the text had been cut") {
  constexpr int kLimit = 24;
  NumericsFixture f("--byte-tokenizer --set vocab_size=260 --set max_position_embeddings=" +
                    std::to_string(kLimit));
  const auto tokenizer = modelslim::Tokenizer::from_file(f.model / "tokenizer.json");
  const std::vector<std::string> texts = modelslim::read_text_dataset(calib_dataset());
  std::size_t longer = 0;
  std::string cut_dataset;
  for (const std::string& text : texts) {
    std::vector<std::int64_t> ids = tokenizer.encode(text);
    if (ids.size() > kLimit) {
      ++longer;
      ids.resize(kLimit);
    }
    const std::string cut = tokenizer.decode(ids, true);
    REQUIRE(tokenizer.encode(cut) == ids);  // the cut text tokenizes to exactly the kept tokens
    cut_dataset += nlohmann::json({{"inputs_pretokenized", cut}}).dump() + "\n";
  }
  REQUIRE(longer > 0);

  const fs::path truncated = f.dir / "truncated";
  const CommandResult run = f.quant(truncated);
  REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  CHECK_MESSAGE(
      run.output.find("calibration: " + std::to_string(longer) + " of " + std::to_string(texts.size()) +
                      " samples truncated to " + std::to_string(kLimit) +
                      " tokens (max_position_embeddings in config.json)") != std::string::npos,
      run.output);

  test::write_text(f.dir / "cut.jsonl", cut_dataset);
  f.write_config(f.dir / "cut.jsonl");
  const fs::path precut = f.dir / "precut";
  const CommandResult reference = f.quant(precut);
  REQUIRE_MESSAGE(reference.exit_code == 0, reference.output);
  CHECK(reference.output.find("truncated") == std::string::npos);
  for (const auto& entry : fs::directory_iterator(truncated)) {
    if (entry.path().extension() != ".safetensors") continue;
    CAPTURE(entry.path());
    CHECK(file_bytes(entry.path()) == file_bytes(precut / entry.path().filename()));
  }
}

TEST_CASE("--max_calib_tokens cuts below the model's limit; a bad value is a usage error") {
  NumericsFixture f("--byte-tokenizer --set vocab_size=260");
  const fs::path save = f.dir / "out";
  const CommandResult run = f.quant(save, "--max_calib_tokens 16");
  REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  CHECK_MESSAGE(run.output.find("samples truncated to 16 tokens (--max_calib_tokens)") != std::string::npos,
                run.output);
  for (const std::string bad : {"0", "-3", "12x"}) {
    const fs::path none = f.dir / ("bad" + bad);
    const CommandResult refused = f.quant(none, "--max_calib_tokens=" + bad);
    CHECK(refused.exit_code == 2);
    CHECK(refused.output.find("--max_calib_tokens '" + bad + "'") != std::string::npos);
    CHECK_FALSE(fs::exists(none));
  }
}
