// Issue 14 §3: what the savers know about DeepSeek-V2/V3 checkpoints (config-time checks from the practice
// alone). Expected names and verdicts are written out by hand from the engines' code:
// - vLLM models/deepseek_v2.py (@002d607): q_a_proj / kv_a_proj_with_mqa / q_b_proj / kv_b_proj / o_proj,
//   mlp.gate a GateLinear without a quant config, e_score_correction_bias float32, shared_experts a
//   DeepseekV2MLP (gate_up_proj), bias=False everywhere;
// - vllm-ascend quantization/modelslim_config.py (@182b75e) packed_modules_model_mapping["deepseek_v3"]:
//   fused_qkv_a_proj = [q_a_proj, kv_a_proj_with_mqa], gate_up_proj, experts;
// - vllm-ascend attention/mla_v1.py process_weights_after_loading: "We currently do not support quant
//   kv_b_proj" (assert UnquantizedLinearMethod).
#include "support/doctest.hpp"

#include <string>
#include <vector>

#include "ascendv1_saver.hpp"
#include "deepseek_rules.hpp"
#include "engine_rules.hpp"
#include "moe_rules.hpp"
#include "support/saver_rules_support.hpp"

using namespace modelslim;
namespace rules = modelslim::saver_rules;

namespace {

// Two layers: layer 0 dense (first_k_dense_replace 1), layer 1 MoE with 2 routed experts and a shared one.
nlohmann::json v3_config(nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json config = {{"model_type", "deepseek_v3"},
                           {"num_hidden_layers", 2},
                           {"hidden_size", 8},
                           {"q_lora_rank", 4},
                           {"n_routed_experts", 2},
                           {"n_shared_experts", 1},
                           {"first_k_dense_replace", 1},
                           {"moe_layer_freq", 1}};
  config.update(extra);
  return config;
}

const char* kStatic =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel, dtype: int8}}";
const char* kDeepseekDynamic =
    "{act: {scope: per_token, dtype: int8, symmetric: true}, weight: {scope: per_channel, dtype: int8}}";

std::string deepseek_lq(const std::string& qconfig, const std::string& selection) {
  return "{type: linear_quant, qconfig: " + qconfig + ", " + selection + "}";
}

// The saver's config-time refusal ("" when it accepts the practice).
std::string ascend(const std::string& process, const nlohmann::json& hf) {
  const ascendv1::AscendV1Saver saver(parse_yaml_string("{type: ascendv1_saver}", "s.yaml"));
  try {
    saver.check_practice(test::practice_view(process, hf));
  } catch (const Error& error) {
    return std::string(error.what()) + "\nTIP: " + error.tip();
  }
  return "";
}

// The reference's DeepSeek W8A8 practice: attention static except kv_b_proj, MLPs dynamic except the router.
std::string reference_practice() {
  return "[" + deepseek_lq(kStatic, "include: ['*self_attn*'], exclude: ['*kv_b_proj']") + ", " +
         deepseek_lq(kDeepseekDynamic, "include: ['*mlp*'], exclude: ['*gate']") + "]";
}

}  // namespace

TEST_CASE("deepseek names: each layer's linears and fused modules as the checkpoint and vLLM spell them") {
  const nlohmann::json config = v3_config();
  CHECK(rules::is_deepseek_config(config));
  CHECK(rules::is_moe_config(config));
  CHECK(rules::deepseek_layer_linears(config, 0) ==
        std::vector<std::string>{"model.layers.0.self_attn.q_a_proj", "model.layers.0.self_attn.q_b_proj",
                                 "model.layers.0.self_attn.kv_a_proj_with_mqa",
                                 "model.layers.0.self_attn.kv_b_proj", "model.layers.0.self_attn.o_proj",
                                 "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                                 "model.layers.0.mlp.down_proj"});
  const std::vector<std::string> sparse = rules::layer_linears(config, 1);
  CHECK(sparse == std::vector<std::string>{
                      "model.layers.1.self_attn.q_a_proj", "model.layers.1.self_attn.q_b_proj",
                      "model.layers.1.self_attn.kv_a_proj_with_mqa", "model.layers.1.self_attn.kv_b_proj",
                      "model.layers.1.self_attn.o_proj", "model.layers.1.mlp.gate",
                      "model.layers.1.mlp.experts.0.gate_proj", "model.layers.1.mlp.experts.0.up_proj",
                      "model.layers.1.mlp.experts.0.down_proj", "model.layers.1.mlp.experts.1.gate_proj",
                      "model.layers.1.mlp.experts.1.up_proj", "model.layers.1.mlp.experts.1.down_proj",
                      "model.layers.1.mlp.shared_experts.gate_proj",
                      "model.layers.1.mlp.shared_experts.up_proj",
                      "model.layers.1.mlp.shared_experts.down_proj"});
  const auto fused = rules::deepseek_fused_modules(config, 1);
  REQUIRE(fused.size() == 2);
  CHECK(fused[0].name == "model.layers.1.self_attn.fused_qkv_a_proj");
  CHECK(fused[0].parts == std::vector<std::string>{"model.layers.1.self_attn.q_a_proj",
                                                   "model.layers.1.self_attn.kv_a_proj_with_mqa"});
  CHECK(fused[1].name == "model.layers.1.mlp.shared_experts.gate_up_proj");
  // V2-lite (no q_lora_rank): q_proj, and no fused_qkv_a_proj (vLLM builds kv_a_proj_with_mqa alone).
  const nlohmann::json lite = v3_config({{"model_type", "deepseek_v2"}, {"q_lora_rank", nullptr}});
  CHECK(rules::deepseek_layer_linears(lite, 0).front() == "model.layers.0.self_attn.q_proj");
  CHECK(rules::deepseek_fused_modules(lite, 0).size() == 1);  // the dense MLP's gate_up_proj
  CHECK_FALSE(
      rules::engine_has_bias(v3_config({{"attention_bias", true}}), "model.layers.0.self_attn.o_proj"));
}

TEST_CASE("deepseek ascendv1 (vllm-ascend): the reference's W8A8 practice is accepted") {
  CHECK(ascend(reference_practice(), v3_config()) == "");
  CHECK(ascend(reference_practice(), v3_config({{"model_type", "kimi_k2"}})) == "");
}

TEST_CASE("deepseek ascendv1 (vllm-ascend): a quantized kv_b_proj is refused before any work") {
  const std::string refusal =
      ascend("[" + deepseek_lq(kStatic, "include: ['*self_attn*']") + ", " +
                 deepseek_lq(kDeepseekDynamic, "include: ['*mlp*'], exclude: ['*gate']") + "]",
             v3_config());
  CHECK_MESSAGE(refusal.find("model.layers.0.self_attn.kv_b_proj") != std::string::npos, refusal);
  CHECK(refusal.find("mla_v1.py") != std::string::npos);
  CHECK(refusal.find("exclude: ['*kv_b_proj']") != std::string::npos);
}

TEST_CASE("deepseek ascendv1 (vllm-ascend): the router and fused_qkv_a_proj follow vLLM's modules") {
  // mlp.gate quantized: vLLM builds it without a quant config.
  std::string refusal =
      ascend("[" + deepseek_lq(kStatic, "include: ['*self_attn*'], exclude: ['*kv_b_proj']") + ", " +
                 deepseek_lq(kDeepseekDynamic, "include: ['*mlp*']") + "]",
             v3_config());
  CHECK_MESSAGE(refusal.find("model.layers.1.mlp.gate is quantized") != std::string::npos, refusal);
  CHECK(refusal.find("models/deepseek_v2.py") != std::string::npos);
  // q_a_proj static, kv_a_proj_with_mqa dynamic: one fused module with two schemes.
  const std::string split = "[" + deepseek_lq(kStatic, "include: ['*q_a_proj', '*q_b_proj', '*o_proj']") +
                            ", " + deepseek_lq(kDeepseekDynamic, "include: ['*kv_a_proj_with_mqa']") + "]";
  refusal = ascend(split, v3_config());
  CHECK_MESSAGE(refusal.find("model.layers.0.self_attn.fused_qkv_a_proj") != std::string::npos, refusal);
  // Without q_lora_rank there is no fused_qkv_a_proj: q_proj and kv_a_proj_with_mqa are separate modules.
  CHECK(ascend("[" + deepseek_lq(kStatic, "include: ['*q_proj', '*o_proj']") + ", " +
                   deepseek_lq(kDeepseekDynamic, "include: ['*kv_a_proj_with_mqa']") + "]",
               v3_config({{"model_type", "deepseek_v2"}, {"q_lora_rank", nullptr}})) == "");
  // Routed experts with static activations: no vllm-ascend MoE scheme (as for Qwen MoE).
  refusal = ascend("[" + deepseek_lq(kStatic, "include: ['*mlp.experts.*']") + "]", v3_config());
  CHECK_MESSAGE(refusal.find("model.layers.1.mlp.experts") != std::string::npos, refusal);
}
