// tools/make_random_deepseek for benchmark (h): the v3-real style has DeepSeek-V3's real widths (checked
// against the numbers of DeepSeek-V3's config.json written out here), and --shard-per-layer writes the same
// tensors as the single-file layout, one file per layer with a transformers-style index, which the deepseek
// adapter reads (eval runs on a small-width v3-real checkpoint).
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <set>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

void generate(const fs::path& output, const std::string& flags) {
  const auto result = test::run_command((test::build_dir() / "bin" / "make_random_deepseek").string() + " " +
                                        flags + " --output " + output.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
}

}  // namespace

TEST_CASE("make_random_deepseek v3-real: DeepSeek-V3's widths, 1 dense + 2 MoE layers, FP8") {
  const test::TempDir dir("deepseek-gen-real");
  generate(dir / "real", "--style v3-real --config-only");
  const nlohmann::json config = read_json_file(dir / "real" / "config.json");
  // DeepSeek-V3 config.json (deepseek-ai/DeepSeek-V3).
  CHECK(config["hidden_size"] == 7168);
  CHECK(config["intermediate_size"] == 18432);
  CHECK(config["moe_intermediate_size"] == 2048);
  CHECK(config["num_attention_heads"] == 128);
  CHECK(config["q_lora_rank"] == 1536);
  CHECK(config["kv_lora_rank"] == 512);
  CHECK(config["qk_nope_head_dim"] == 128);
  CHECK(config["qk_rope_head_dim"] == 64);
  CHECK(config["v_head_dim"] == 128);
  CHECK(config["n_routed_experts"] == 256);
  CHECK(config["n_shared_experts"] == 1);
  CHECK(config["num_experts_per_tok"] == 8);
  CHECK(config["n_group"] == 8);
  CHECK(config["topk_group"] == 4);
  CHECK(config["topk_method"] == "noaux_tc");
  CHECK(config["num_hidden_layers"] == 3);
  CHECK(config["first_k_dense_replace"] == 1);
  CHECK(config["quantization_config"]["weight_block_size"] == nlohmann::json({128, 128}));
  CHECK_FALSE(fs::exists(dir / "real" / "model.safetensors"));
}

TEST_CASE("make_random_deepseek --shard-per-layer: the same tensors, one file per layer, an index") {
  const test::TempDir dir("deepseek-gen-shards");
  generate(dir / "single", "--style v3 --seed 9");
  generate(dir / "sharded", "--style v3 --seed 9 --shard-per-layer");
  const nlohmann::json index = read_json_file(dir / "sharded" / "model.safetensors.index.json");
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) files.insert(file.get<std::string>());
  // 3 decoder layers + 1 MTP layer.
  CHECK(files == std::set<std::string>{"model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                       "model-00003-of-00004.safetensors",
                                       "model-00004-of-00004.safetensors"});
  CHECK(index["weight_map"]["model.layers.1.mlp.experts.3.up_proj.weight"] ==
        "model-00002-of-00004.safetensors");
  const auto single = SafetensorsCheckpoint::open_dir(dir / "single");
  const auto sharded = SafetensorsCheckpoint::open_dir(dir / "sharded");
  CHECK(single.names().size() == sharded.names().size());
  CHECK(index["weight_map"].size() == single.names().size());
  for (const std::string& name : single.names()) {
    CAPTURE(name);
    REQUIRE(sharded.contains(name));
    CHECK(single.info(name).dtype == sharded.info(name).dtype);
    if (single.info(name).dtype == "F8_E4M3") continue;  // raw codes: compared through the eval below
    CHECK(at::equal(single.load(name), sharded.load(name)));
  }
  // The adapter reads both layouts to the same logits.
  test::write_text(dir / "text.jsonl", "{\"inputs_pretokenized\": \"And God said, Let there be light\"}\n");
  std::vector<double> ppl;
  for (const char* layout : {"single", "sharded"}) {
    const fs::path json = dir / (std::string(layout) + ".json");
    const auto result = test::run_command(
        test::modelslim_bin().string() + " eval --model_path " + (dir / layout).string() + " --dataset " +
        (dir / "text.jsonl").string() + " --metrics ppl --max_tokens 16 --json " + json.string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    ppl.push_back(read_json_file(json)["float"][0]["value"].get<double>());
  }
  CHECK(ppl[0] == ppl[1]);
}

TEST_CASE("make_random_deepseek v3-real at small widths: sharded FP8 checkpoint the adapter evaluates") {
  const test::TempDir dir("deepseek-gen-small-real");
  generate(
      dir / "small",
      "--style v3-real --shard-per-layer --set hidden_size=256 --set intermediate_size=384 "
      "--set moe_intermediate_size=128 --set n_routed_experts=16 --set num_attention_heads=4 "
      "--set num_key_value_heads=4 --set q_lora_rank=192 --set kv_lora_rank=64 --set qk_nope_head_dim=32 "
      "--set qk_rope_head_dim=16 --set v_head_dim=32 --set vocab_size=300");
  CHECK(SafetensorsCheckpoint::open_dir(dir / "small")
            .info("model.layers.2.mlp.experts.15.down_proj.weight")
            .dtype == "F8_E4M3");
  test::write_text(dir / "text.jsonl", "{\"inputs_pretokenized\": \"And God said, Let there be light\"}\n");
  const auto result = test::run_command(
      test::modelslim_bin().string() + " eval --model_path " + (dir / "small").string() + " --dataset " +
      (dir / "text.jsonl").string() + " --metrics ppl --max_tokens 16 --json " + (dir / "e.json").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(std::isfinite(read_json_file(dir / "e.json")["float"][0]["value"].get<double>()));
}
