// The savers stream quantized tensors straight into their shard files: on a random llama with shards small
// enough to make several, every output file is byte-identical to the previous spill-then-copy path
// (MODELSLIM_SHARD_WRITER=spill, run in the same test), and the savers' layout guess is exact for a
// uniformly quantized model (no shard's data moved).
#include "support/doctest.hpp"

#include <fstream>
#include <iterator>
#include <map>

#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

fs::path shard_stream_make_fake_llama(const test::TempDir& dir) {  // 3 layers
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / "model";
  const auto result = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                        " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                        " --output " + model.string() + " --seed 3");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return model;
}

// Every file under `dir` (recursively) but the output marker, which names the process that wrote it.
std::map<std::string, std::string> files_in(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == ".modelslim-output") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files[fs::relative(entry.path(), dir).string()] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  return files;
}

test::CommandResult shard_stream_quant(const std::string& env, const fs::path& model, const fs::path& out,
                                       const fs::path& config) {
  return test::run_command(env + test::modelslim_bin().string() + " quant --log-level debug --model_path " +
                           model.string() + " --save_path " + out.string() + " --config_path " +
                           config.string());
}

// Runs W8A8 dynamic with `saver` (one saver a run) on the spill path and the streaming path; compares.
void check_same_as_spill(const test::TempDir& dir, const std::string& saver, const std::string& stem) {
  const fs::path model = shard_stream_make_fake_llama(dir);
  test::write_text(dir / "c.yaml",
                   "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig: "
                   "{act: {scope: per_token, dtype: int8, symmetric: true}, weight: {scope: per_channel, "
                   "dtype: int8, symmetric: true}}\n  save: [{type: " +
                       saver + ", part_file_size: 0.0001}]\n");
  const fs::path spilled = dir / "spill";
  const fs::path streamed = dir / "stream";
  const auto old_run = shard_stream_quant("MODELSLIM_SHARD_WRITER=spill ", model, spilled, dir / "c.yaml");
  REQUIRE_MESSAGE(old_run.exit_code == 0, old_run.output);
  const auto new_run = shard_stream_quant("", model, streamed, dir / "c.yaml");
  REQUIRE_MESSAGE(new_run.exit_code == 0, new_run.output);
  // The saver's guess was exact for every shard (uniform blocks): nothing was moved.
  CHECK_MESSAGE(new_run.output.find("layout guess was off") == std::string::npos, new_run.output);

  const auto expected = files_in(spilled);
  const auto actual = files_in(streamed);
  REQUIRE(expected.count(stem + ".safetensors.index.json") == 1);
  std::size_t shards = 0;
  for (const auto& [name, bytes] : expected) shards += name.rfind(stem + "-0", 0) == 0 ? 1 : 0;
  CHECK(shards > 3);  // 0.0001 GiB ≈ 107 KB a shard
  REQUIRE(actual.size() == expected.size());
  for (const auto& [name, bytes] : expected) {
    REQUIRE_MESSAGE(actual.count(name) == 1, name);
    CHECK_MESSAGE(actual.at(name) == bytes, name << " differs from the spill-then-copy output");
  }
}

}  // namespace

TEST_CASE("ascendv1_saver: streamed shards equal the spill-then-copy bytes") {
  test::TempDir dir("shard-stream-ascend");
  check_same_as_spill(dir, "ascendv1_saver", "quant_model_weights");
}

TEST_CASE("compressed_tensors: streamed shards equal the spill-then-copy bytes") {
  test::TempDir dir("shard-stream-ct");
  check_same_as_spill(dir, "compressed_tensors", "model");
}
