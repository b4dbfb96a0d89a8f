// Issue 17, "compute from the checkpoint dtype where exact": a run whose processors and savers only read
// linear weights keeps a bf16 checkpoint's weights as stored (no float32 copy), and the evaluator keeps the
// deployed linears' float weights as stored. No byte of the output changes: a random bf16 model in several
// shards is quantized and evaluated with the default and with MODELSLIM_STORED_DTYPE_WEIGHTS=0 (always
// float32, the previous behaviour) or =1 (stored dtype even with a calibration forward).
#include "support/doctest.hpp"

#include "support/shared_generated.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

constexpr const char* kKeptLine = "linear weights stay in the checkpoint dtype";

// Made once per process: each SUBCASE reruns the case body, and every subcase only reads the model.
fs::path stored_dtype_quant_make_model() {
  const fs::path model = test::shared_generated(
      (test::build_dir() / "bin" / "make_random_model").string() + " --config " +
      (test::source_dir() / "data" / "demo" / "config.json").string() +
      " --byte-tokenizer --dtype bfloat16 --shard-size-mb 3 --seed 12 --set hidden_size=512"
      " --set intermediate_size=1024 --set num_attention_heads=4 --set num_key_value_heads=2"
      " --set head_dim=128 --set num_hidden_layers=3");
  return model;
}

std::string run(const std::string& env, const std::string& arguments) {
  const auto result = test::run_command(env + " " + test::modelslim_bin().string() + " " + arguments);
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return result.output;
}

std::string stored_dtype_quant_quant(const fs::path& model, const fs::path& config, const fs::path& save,
                                     const std::string& env) {
  return run(env, "quant --model_path " + model.string() + " --save_path " + save.string() +
                      " --config_path " + config.string());
}

void stored_dtype_quant_require_identical_trees(const fs::path& a, const fs::path& b,
                                                std::size_t at_least = 3) {
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
  CHECK(files >= at_least);
}

const char* kFloat32 = "MODELSLIM_STORED_DTYPE_WEIGHTS=0";

}  // namespace

TEST_CASE("bf16 weights kept as stored: data-free quant and eval write the same bytes as float32 loading") {
  test::TempDir dir("stored-dtype");
  const fs::path model = stored_dtype_quant_make_model();
  SUBCASE("W8A16 per-group (ascendv1), down_proj left in float, read ahead in the stored dtype") {
    test::write_text(dir / "w8a16.yaml", R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      exclude: ["*.mlp.down_proj"]
      qconfig:
        weight: {scope: per_group, dtype: int8, symmetric: false, ext: {group_size: 128}}
  save: [{type: ascendv1_saver, part_file_size: 1, engine: none}]
)");
    CHECK(stored_dtype_quant_quant(model, dir / "w8a16.yaml", dir / "kept", "").find(kKeptLine) !=
          std::string::npos);
    CHECK(stored_dtype_quant_quant(model, dir / "w8a16.yaml", dir / "float32", kFloat32).find(kKeptLine) ==
          std::string::npos);
    stored_dtype_quant_quant(model, dir / "w8a16.yaml", dir / "ahead", "MODELSLIM_PREFETCH_BUDGET_MIB=block");
    stored_dtype_quant_require_identical_trees(dir / "float32", dir / "kept");
    stored_dtype_quant_require_identical_trees(dir / "float32", dir / "ahead");

    // The evaluator: deployed linears keep their float weights as stored, down_proj is widened once.
    test::write_text(
        dir / "text.jsonl",
        "{\"inputs_pretokenized\": \"In the beginning God created the heaven and the earth.\"}\n");
    const std::string eval = "eval --model_path " + model.string() + " --quant_path " +
                             (dir / "kept").string() + " --dataset " + (dir / "text.jsonl").string() +
                             " --metrics ppl --max_tokens 24";
    run("", eval + " --dump_logits " + (dir / "logits-kept").string());
    run(kFloat32, eval + " --dump_logits " + (dir / "logits-float32").string());
    stored_dtype_quant_require_identical_trees(dir / "logits-float32", dir / "logits-kept",
                                               2);  // float and quantized
  }
  SUBCASE("W8A8 dynamic (compressed_tensors), o_proj left in float") {
    test::write_text(dir / "dynamic.yaml", R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      exclude: ["*.self_attn.o_proj"]
      qconfig:
        act: {scope: per_token, dtype: int8, symmetric: true}
        weight: {scope: per_channel, dtype: int8, symmetric: true}
  save: [{type: compressed_tensors, part_file_size: 1}]
)");
    stored_dtype_quant_quant(model, dir / "dynamic.yaml", dir / "kept", "");
    stored_dtype_quant_quant(model, dir / "dynamic.yaml", dir / "float32", kFloat32);
    stored_dtype_quant_require_identical_trees(dir / "float32", dir / "kept");
  }
  SUBCASE("W8A8 static: float32 by default (a calibration forward), the same bytes when forced") {
    test::write_text(dir / "calib.jsonl",
                     "{\"inputs_pretokenized\": \"And God said, Let there be light: and there was light.\"}\n"
                     "{\"inputs_pretokenized\": \"And the evening and the morning were the first day.\"}\n");
    test::write_text(dir / "w8a8.yaml", test::with_dataset(test::kW8A8Practice, dir / "calib.jsonl"));
    CHECK(stored_dtype_quant_quant(model, dir / "w8a8.yaml", dir / "default", "").find(kKeptLine) ==
          std::string::npos);
    CHECK(
        stored_dtype_quant_quant(model, dir / "w8a8.yaml", dir / "forced", "MODELSLIM_STORED_DTYPE_WEIGHTS=1")
            .find(kKeptLine) != std::string::npos);
    stored_dtype_quant_require_identical_trees(dir / "default", dir / "forced");
  }
}
