// Issue 17: the layer-wise runner's prefetch (block k+1 read, optionally partly converted, on a background
// thread) and buffer reuse (pooled float32 weights and integers, glibc keeping activations resident) change
// no byte of the output. A random bf16 model in several shards is quantized (W8A8 static, and data-free
// W8A16) with the machinery on and off (MODELSLIM_PREFETCH=0 MODELSLIM_BUFFER_POOL=0, and the CLI's own
// sched_yield off too: MODELSLIM_SPIN_YIELD=0, so OpenBLAS's threads wait in the kernel as before).
#include "support/doctest.hpp"

#include "support/shared_generated.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// hidden 1024 / intermediate 2048: every float32 weight is >= 4 MiB, so all of them go through the pool;
// shards of 3 MiB split the blocks' tensors over many files.
// Made once per process: each SUBCASE reruns the case body, and every subcase only reads the model.
fs::path layer_wise_prefetch_make_model() {
  const fs::path model = test::shared_generated(
      (test::build_dir() / "bin" / "make_random_model").string() + " --config " +
      (test::source_dir() / "data" / "demo" / "config.json").string() +
      " --byte-tokenizer --dtype bfloat16 --shard-size-mb 3 --seed 11 --set hidden_size=1024"
      " --set intermediate_size=2048 --set num_attention_heads=8 --set num_key_value_heads=4"
      " --set head_dim=128 --set num_hidden_layers=4");
  std::size_t shards = 0;
  for (const auto& entry : fs::directory_iterator(model))
    shards += entry.path().extension() == ".safetensors";
  REQUIRE(shards > 4);
  return model;
}

std::string layer_wise_prefetch_quant(const fs::path& model, const fs::path& config, const fs::path& save,
                                      const std::string& env) {
  const auto result =
      test::run_command(env + " " + test::modelslim_bin().string() + " quant --model_path " + model.string() +
                        " --save_path " + save.string() + " --config_path " + config.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return result.output;
}

void layer_wise_prefetch_require_identical_trees(const fs::path& a, const fs::path& b) {
  std::size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(a)) {
    if (!entry.is_regular_file() || entry.path().filename() == ".modelslim-output") continue;
    const fs::path relative = fs::relative(entry.path(), a);
    REQUIRE_MESSAGE(fs::exists(b / relative), relative.string());
    CHECK_MESSAGE(test::read_text(entry.path()) == test::read_text(b / relative), relative.string());
    ++files;
  }
  std::size_t other = 0;
  for (const auto& entry : fs::recursive_directory_iterator(b))
    other += entry.is_regular_file() && entry.path().filename() != ".modelslim-output" ? 1 : 0;
  CHECK(files == other);
  CHECK(files > 3);
}

const char* kOff = "MODELSLIM_PREFETCH=0 MODELSLIM_BUFFER_POOL=0 MODELSLIM_SPIN_YIELD=0";

}  // namespace

TEST_CASE("layer_wise prefetch and buffer reuse write the same bytes as plain loading (several shards)") {
  test::TempDir dir("layer-wise-prefetch");
  const fs::path model = layer_wise_prefetch_make_model();
  test::write_text(dir / "calib.jsonl",
                   "{\"inputs_pretokenized\": \"In the beginning God created the heaven and the earth.\"}\n"
                   "{\"inputs_pretokenized\": \"And the earth was without form, and void; and darkness.\"}\n"
                   "{\"inputs_pretokenized\": \"And God said, Let there be light: and there was light.\"}\n");
  SUBCASE("W8A8 static, min/max") {
    test::write_text(dir / "w8a8.yaml", test::with_dataset(test::kW8A8Practice, dir / "calib.jsonl"));
    layer_wise_prefetch_quant(model, dir / "w8a8.yaml", dir / "off", kOff);
    layer_wise_prefetch_quant(model, dir / "w8a8.yaml", dir / "on", "");
    // One block's bf16 bytes converted to float32 ahead: the other prefetch path.
    layer_wise_prefetch_quant(model, dir / "w8a8.yaml", dir / "ahead", "MODELSLIM_PREFETCH_BUDGET_MIB=block");
    layer_wise_prefetch_require_identical_trees(dir / "off", dir / "on");
    layer_wise_prefetch_require_identical_trees(dir / "off", dir / "ahead");
  }
  SUBCASE("W8A16 asymmetric per-group weights (engine: none), no calibration data") {
    test::write_text(dir / "w8a16.yaml", R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      qconfig:
        weight: {scope: per_group, dtype: int8, symmetric: false, ext: {group_size: 128}}
  save: [{type: ascendv1_saver, part_file_size: 1, engine: none}]
)");
    layer_wise_prefetch_quant(model, dir / "w8a16.yaml", dir / "off", kOff);
    layer_wise_prefetch_quant(model, dir / "w8a16.yaml", dir / "on", "");
    layer_wise_prefetch_require_identical_trees(dir / "off", dir / "on");
  }
}
