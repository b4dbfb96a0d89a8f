// Issue 11 §1.2, §1.7, §1.8, §1.9 end to end: `modelslim quant` refuses, before any work, a practice whose
// saver's engine would drop or misread what the processors produce (exit != 0, nothing written, the message
// names the saver, the processor and the alternative), and a tied-embedding model saves an lm_head the
// engines can find.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <set>
#include <string>
#include <vector>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
namespace test = modelslim::test;

namespace {

const char* kStatic =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel}}";
const char* kDynamic = "{act: {scope: per_token, dtype: int8}, weight: {scope: per_channel}}";

struct SaverRulesFixture {
  test::TempDir dir{"saver-rules"};
  fs::path model = dir / "model";
  fs::path save = dir / "out";
  fs::path config = dir / "config.yaml";

  explicit SaverRulesFixture(const std::string& model_flags = "") {
    const fs::path fake = test::shared_dir() / "data" / "fake_llama";
    const auto made = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                        " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                        " --output " + model.string() + " --seed 3 " + model_flags);
    REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  }
  test::CommandResult quant(const std::string& process, const std::string& save_list) const {
    const fs::path dataset = test::shared_dir() / "data" / "msmodelslim_lab_calib" / "mix_calib.jsonl";
    test::write_text(config, "apiversion: modelslim_v1\nspec:\n  process: " + process +
                                 "\n  save: " + save_list + "\n  dataset: " + dataset.string() + "\n");
    return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                             " --save_path " + save.string() + " --config_path " + config.string());
  }
  // Refused before any work: no calibration read, no block processed, nothing at or beside --save_path.
  void expect_refusal(const test::CommandResult& result, const std::vector<std::string>& parts) const {
    CAPTURE(result.output);
    CHECK(result.exit_code != 0);
    for (const auto& part : parts) CHECK_MESSAGE(result.output.find(part) != std::string::npos, part);
    CHECK(result.output.find("calibration:") == std::string::npos);
    CHECK(result.output.find("[quant] block") == std::string::npos);
    CHECK_FALSE(fs::exists(save));
    for (const auto& entry : fs::directory_iterator(dir.path()))
      CHECK(entry.path().filename().string().find("out") == std::string::npos);
  }
};

std::string lq(const std::string& qconfig, const std::string& extra = "") {
  return "{type: linear_quant, qconfig: " + qconfig + extra + "}";
}

}  // namespace

TEST_CASE("compressed_tensors refuses asymmetric smoothing: vLLM and HF drop the norm bias") {
  SaverRulesFixture f;
  f.expect_refusal(f.quant("[{type: iter_smooth, alpha: 0.5, symmetric: false}, " + lq(kStatic) + "]",
                           "[{type: compressed_tensors}]"),
                   {"compressed_tensors saver", "spec.process.0 (iter_smooth)", "RMSNorm has no bias",
                    "use symmetric: true"});
}

TEST_CASE("ascendv1 refuses asymmetric smoothing with schemes that drop the new linear biases") {
  SaverRulesFixture f;
  f.expect_refusal(
      f.quant("[{type: iter_smooth, alpha: 0.5, symmetric: false}, " + lq(kDynamic) + "]",
              "[{type: ascendv1_saver}]"),
      {"ascendv1_saver", "spec.process.0 (iter_smooth)", "vllm-ascend drops", "use symmetric: true"});
}

TEST_CASE("ascendv1 with asymmetric smoothing and W8A8 saves the norm biases vllm-ascend adds") {
  SaverRulesFixture f;
  const auto result = f.quant("[{type: iter_smooth, alpha: 0.5, symmetric: false}, " + lq(kStatic) + "]",
                              "[{type: ascendv1_saver}]");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto description = modelslim::read_json_file(f.save / "quant_model_description.json");
  // AscendRMSNorm creates its bias when a description key contains "norm.bias".
  CHECK(description["model.layers.0.input_layernorm.bias"] == "FLOAT");
  CHECK(description["model.layers.0.self_attn.q_proj.weight"] == "W8A8");
}

TEST_CASE("ascendv1 refuses forms vllm-ascend does not load, unless engine: none") {
  SaverRulesFixture f;
  const std::string w4a16 =
      "[" + lq("{weight: {scope: per_group, dtype: int4, ext: {group_size: 32}}}") + "]";
  f.expect_refusal(f.quant(w4a16, "[]"),  // the default saver is ascendv1_saver
                   {"ascendv1_saver", "spec.process.0 (linear_quant)",
                    "W4A16 is registered for MoE layers only", "engine: none"});
  const auto anyway = f.quant(w4a16, "[{type: ascendv1_saver, engine: none}]");
  CHECK_MESSAGE(anyway.exit_code == 0, anyway.output);
}

TEST_CASE("compressed_tensors refuses a fused module whose parts are given different schemes") {
  SaverRulesFixture f;
  f.expect_refusal(
      f.quant("[" + lq(kDynamic) + ", " + lq(kStatic, ", include: ['*layers.1.self_attn.k_proj']") + "]",
              "[{type: compressed_tensors}]"),
      {"compressed_tensors saver", "model.layers.1.self_attn.qkv_proj is one fused module",
       "spec.process.1 (linear_quant)"});
}

namespace {

const std::vector<std::vector<std::string>> kFusedLeaves = {
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, {"mlp.gate_proj", "mlp.up_proj"}};

// The layers' fused parts as vLLM's should_ignore_layer sees them: all in `ignore` or none. Returns the
// parts in `ignore`; fails the test on a split module.
std::set<std::string> fused_parts_ignored(const nlohmann::json& ignore, int layers) {
  const std::set<std::string> ignored(ignore.begin(), ignore.end());
  std::set<std::string> parts;
  for (int layer = 0; layer < layers; ++layer) {
    for (const auto& leaves : kFusedLeaves) {
      std::size_t count = 0;
      for (const auto& leaf : leaves) {
        const std::string name = "model.layers." + std::to_string(layer) + "." + leaf;
        if (ignored.count(name) > 0) parts.insert(name);
        count += ignored.count(name);
      }
      CHECK_MESSAGE((count == 0 || count == leaves.size()), "layer ", layer, " ", leaves[0]);
    }
  }
  return parts;
}

}  // namespace

TEST_CASE("excluding one part of q/k/v or gate/up keeps the whole fused module in float, for both engines") {
  SaverRulesFixture f;
  const std::string process =
      "[" + lq(kDynamic, ", exclude: ['*layers.1.self_attn.k_proj', 'model.layers.0.mlp.up_proj']") + "]";
  const std::set<std::string> floats = {"model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj",
                                        "model.layers.1.self_attn.v_proj", "model.layers.0.mlp.gate_proj",
                                        "model.layers.0.mlp.up_proj"};
  const auto ascend = f.quant(process, "[{type: ascendv1_saver}]");
  REQUIRE_MESSAGE(ascend.exit_code == 0, ascend.output);
  CHECK_MESSAGE(
      ascend.output.find("model.layers.1.self_attn.k_proj is excluded, so its fused siblings q_proj, "
                         "v_proj (one module model.layers.1.self_attn.qkv_proj") != std::string::npos,
      ascend.output);
  CHECK(ascend.output.find("fused sibling gate_proj (one module model.layers.0.mlp.gate_up_proj") !=
        std::string::npos);
  const auto description = modelslim::read_json_file(f.save / "quant_model_description.json");
  for (int layer = 0; layer < 3; ++layer) {
    for (const auto& leaves : kFusedLeaves) {
      for (const auto& leaf : leaves) {
        const std::string name = "model.layers." + std::to_string(layer) + "." + leaf;
        CHECK_MESSAGE(description[name + ".weight"] == (floats.count(name) ? "FLOAT" : "W8A8_DYNAMIC"), name);
      }
    }
    CHECK(description["model.layers." + std::to_string(layer) + ".self_attn.o_proj.weight"] ==
          "W8A8_DYNAMIC");
  }

  fs::remove_all(f.save);
  const auto ct = f.quant(process, "[{type: compressed_tensors}]");
  REQUIRE_MESSAGE(ct.exit_code == 0, ct.output);
  const auto ignore = modelslim::read_json_file(f.save / "config.json")["quantization_config"]["ignore"];
  CHECK(fused_parts_ignored(ignore, 3) == floats);
}

TEST_CASE("compressed_tensors refuses weight-only group sizes vLLM's kernel does not take") {
  SaverRulesFixture f;
  f.expect_refusal(f.quant("[" + lq("{weight: {scope: per_group, dtype: int4, ext: {group_size: 16}}}") + "]",
                           "[{type: compressed_tensors}]"),
                   {"compressed_tensors saver", "spec.process.0 (linear_quant)", "Marlin", "32, 64 or 128"});
}

TEST_CASE("two savers in one run are refused before any work") {
  SaverRulesFixture f;
  f.expect_refusal(f.quant("[" + lq(kDynamic) + "]", "[{type: ascendv1_saver}, {type: compressed_tensors}]"),
                   {"spec.save.1", "only one saver per run"});
}

TEST_CASE("tied embeddings: ascendv1 lists lm_head.weight, compressed_tensors ignores lm_head") {
  SaverRulesFixture f("--set tie_word_embeddings=true");
  REQUIRE_FALSE(modelslim::SafetensorsCheckpoint::open_dir(f.model).contains("lm_head.weight"));
  const auto ascend = f.quant("[" + lq(kDynamic) + "]", "[{type: ascendv1_saver}]");
  REQUIRE_MESSAGE(ascend.exit_code == 0, ascend.output);
  const auto description = modelslim::read_json_file(f.save / "quant_model_description.json");
  CHECK(description["lm_head.weight"] == "FLOAT");
  const auto saved = modelslim::SafetensorsCheckpoint::open_dir(f.save);
  CHECK(at::equal(saved.load("lm_head.weight"), saved.load("model.embed_tokens.weight")));

  fs::remove_all(f.save);
  const auto ct = f.quant("[" + lq(kDynamic) + "]", "[{type: compressed_tensors}]");
  REQUIRE_MESSAGE(ct.exit_code == 0, ct.output);
  const auto ignore = modelslim::read_json_file(f.save / "config.json")["quantization_config"]["ignore"];
  CHECK(ignore == nlohmann::json::array({"lm_head"}));
}
