// Issue 13 §5: the savers' rules for mixture-of-experts checkpoints, from synthetic linear names and
// practices (no MoE adapter needed). Expected names and verdicts are written out by hand from the engines'
// code (vLLM models/qwen3_moe.py, qwen2_moe.py, mixtral.py, compressed_tensors_moe.py; vllm-ascend
// quantization/modelslim_config.py and methods/*.py) and the reference's ascendv1 saver.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "ascendv1_saver.hpp"
#include "compressed_tensors_saver.hpp"
#include "engine_rules.hpp"
#include "modelslim/json_file.hpp"
#include "moe_rules.hpp"
#include "support/saver_rules_support.hpp"
#include "support/test_support.hpp"
#include "vllm_ascend_rules.hpp"
#include "vllm_rules.hpp"

using namespace modelslim;
namespace rules = modelslim::saver_rules;

namespace {

nlohmann::json moe_config(const std::string& type, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json config = {{"model_type", type}, {"num_hidden_layers", 2}, {"hidden_size", 8}};
  config[type == "mixtral" ? "num_local_experts" : "num_experts"] = 3;
  config.update(extra);
  return config;
}

const char* kMoeSaverRulesStatic =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel, dtype: int8}}";
const char* kMoeSaverRulesDynamic =
    "{act: {scope: per_token, dtype: int8, symmetric: true}, weight: {scope: per_channel, dtype: int8}}";
const char* kW4A8 =
    "{act: {scope: per_token, dtype: int8, symmetric: true}, weight: {scope: per_channel, dtype: int4}}";
const char* kMoeSaverRulesW8A16 = "{weight: {scope: per_channel, dtype: int8}}";
const char* kW4A16Group128 = "{weight: {scope: per_group, dtype: int4, ext: {group_size: 128}}}";

std::string moe_saver_rules_lq(const std::string& qconfig, const std::string& extra = "") {
  return "{type: linear_quant, qconfig: " + qconfig + extra + "}";
}

template <typename SaverType>
std::string refusal_of(const std::string& saver_yaml, const std::string& process, const nlohmann::json& hf) {
  const SaverType saver(parse_yaml_string(saver_yaml, "s.yaml"));
  try {
    saver.check_practice(test::practice_view(process, hf));
  } catch (const Error& error) {
    return std::string(error.what()) + "\nTIP: " + error.tip();
  }
  return "";
}

std::string moe_saver_rules_ascend(const std::string& process, const nlohmann::json& hf) {
  return refusal_of<ascendv1::AscendV1Saver>("{type: ascendv1_saver}", process, hf);
}
std::string vllm(const std::string& process, const nlohmann::json& hf) {
  return refusal_of<compressed_tensors::CompressedTensorsSaver>("{type: compressed_tensors}", process, hf);
}

// A sparse decoder layer named as the checkpoint names it: attention, router, `experts` experts.
class MoeNamedBlock final : public Block {
 public:
  MoeNamedBlock(std::string name, std::int64_t experts) : name_(std::move(name)) {
    at::manual_seed(4);
    std::vector<std::string> leaves = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                       "self_attn.o_proj"};
    for (std::int64_t e = 0; e < experts; ++e) {
      for (const char* leaf : {"gate_proj", "up_proj", "down_proj"})
        leaves.push_back("mlp.experts." + std::to_string(e) + "." + leaf);
    }
    for (const std::string& leaf : leaves)
      linears_.push_back(std::make_unique<Linear>(name_ + "." + leaf, at::randn({8, 8}) * 0.1));
    linears_.push_back(std::make_unique<Linear>(name_ + ".mlp.gate", at::randn({experts, 8}) * 0.1));
  }
  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override {
    std::vector<Linear*> out;
    for (auto& linear : linears_) out.push_back(linear.get());
    return out;
  }
  std::vector<NamedTensor> other_parameters() const override {
    return {{name_ + ".post_attention_layernorm.weight", at::ones({8})}};
  }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext&) override { return hidden; }
  Linear& linear(const std::string& leaf) {
    for (auto& candidate : linears_) {
      if (candidate->name() == name_ + "." + leaf) return *candidate;
    }
    throw Error(ErrorCode::kUnexpected, "no linear " + leaf);
  }
  // W8A8_DYNAMIC (int8 per-channel symmetric weight, per-token activations) on every linear but the router.
  void quantize_dynamic() {
    for (auto& linear : linears_) {
      if (rules::is_router(linear->name())) continue;
      const at::Tensor w = linear->weight().to(at::kFloat);
      QuantizedLinear q;
      q.act_mode = ActivationQuantMode::kDynamicPerToken;
      q.weight_scale = w.abs().amax(1) / 127.0;
      q.qweight = at::round(w / q.weight_scale.unsqueeze(1)).to(at::kChar);
      q.weight_offset = at::zeros_like(q.weight_scale);
      linear->set_quantized(std::make_shared<QuantizedLinear>(q));
    }
  }

 private:
  std::string name_;
  std::vector<std::unique_ptr<Linear>> linears_;
};

}  // namespace

TEST_CASE("MoE names: experts modules, routers and each layer's linears as the checkpoints spell them") {
  CHECK(rules::experts_module_of("model.layers.3.mlp.experts.17.up_proj") == "model.layers.3.mlp.experts");
  CHECK(rules::experts_module_of("model.layers.0.block_sparse_moe.experts.5.w1") ==
        "model.layers.0.block_sparse_moe.experts");
  CHECK_FALSE(rules::experts_module_of("model.layers.3.mlp.shared_expert.up_proj"));
  CHECK_FALSE(rules::experts_module_of("model.layers.3.mlp.up_proj"));
  CHECK_FALSE(rules::experts_module_of("model.layers.3.mlp.experts.x.up_proj"));
  CHECK(rules::is_router("model.layers.0.mlp.gate"));
  CHECK(rules::is_router("model.layers.0.mlp.shared_expert_gate"));
  CHECK(rules::is_router("model.layers.0.block_sparse_moe.gate"));
  CHECK_FALSE(rules::is_router("model.layers.0.mlp.gate_proj"));

  // Qwen3-MoE, 3 experts; layer 0 dense by mlp_only_layers.
  const auto qwen3 = rules::layer_linears(moe_config("qwen3_moe", {{"mlp_only_layers", {0}}}), 1);
  const std::vector<std::string> expected = {"model.layers.1.self_attn.q_proj",
                                             "model.layers.1.self_attn.k_proj",
                                             "model.layers.1.self_attn.v_proj",
                                             "model.layers.1.self_attn.o_proj",
                                             "model.layers.1.mlp.gate",
                                             "model.layers.1.mlp.experts.0.gate_proj",
                                             "model.layers.1.mlp.experts.0.up_proj",
                                             "model.layers.1.mlp.experts.0.down_proj",
                                             "model.layers.1.mlp.experts.1.gate_proj",
                                             "model.layers.1.mlp.experts.1.up_proj",
                                             "model.layers.1.mlp.experts.1.down_proj",
                                             "model.layers.1.mlp.experts.2.gate_proj",
                                             "model.layers.1.mlp.experts.2.up_proj",
                                             "model.layers.1.mlp.experts.2.down_proj"};
  CHECK(qwen3 == expected);
  CHECK(rules::layer_linears(moe_config("qwen3_moe", {{"mlp_only_layers", {0}}}), 0) ==
        rules::llama_layer_linears(0));
  // decoder_sparse_step 2: layers 1, 3, ... are sparse ((i + 1) % step == 0).
  CHECK(rules::layer_linears(moe_config("qwen3_moe", {{"decoder_sparse_step", 2}}), 0).size() == 7);
  CHECK(rules::layer_linears(moe_config("qwen3_moe", {{"decoder_sparse_step", 2}}), 1).size() == 14);
  const auto mixtral = rules::layer_linears(moe_config("mixtral"), 0);
  CHECK(mixtral.at(4) == "model.layers.0.block_sparse_moe.gate");
  CHECK(mixtral.at(5) == "model.layers.0.block_sparse_moe.experts.0.w1");
  CHECK(mixtral.back() == "model.layers.0.block_sparse_moe.experts.2.w2");
  const auto qwen2 =
      rules::layer_linears(moe_config("qwen2_moe", {{"shared_expert_intermediate_size", 16}}), 0);
  CHECK(qwen2.size() == 4 + 1 + 9 + 4);
  CHECK(qwen2.back() == "model.layers.0.mlp.shared_expert_gate");
  CHECK(qwen2.at(qwen2.size() - 4) == "model.layers.0.mlp.shared_expert.gate_proj");
}

TEST_CASE("MoE engine biases: Qwen2-MoE q/k/v carry a bias, experts and routers none") {
  const auto qwen2 = moe_config("qwen2_moe");
  CHECK(rules::engine_has_bias(qwen2, "model.layers.0.self_attn.q_proj"));
  CHECK_FALSE(rules::engine_has_bias(qwen2, "model.layers.0.self_attn.o_proj"));
  CHECK_FALSE(rules::engine_has_bias(moe_config("qwen3_moe"), "model.layers.0.self_attn.q_proj"));
  CHECK(rules::engine_has_bias(moe_config("qwen3_moe", {{"attention_bias", true}}),
                               "model.layers.0.self_attn.k_proj"));
  CHECK_FALSE(rules::engine_has_bias(moe_config("mixtral", {{"mlp_bias", true}}),
                                     "model.layers.0.block_sparse_moe.experts.0.w1"));
}

TEST_CASE("vllm-ascend MoE rules at config time: expert schemes, one scheme per layer, routers") {
  const auto hf = moe_config("qwen3_moe");
  const std::string no_router = ", exclude: ['*mlp.gate']";
  // The reference's qwen3-30b-a3b practice: W8A8 static attention, W8A8_DYNAMIC MLP, router float.
  CHECK(moe_saver_rules_ascend(
            "[" + moe_saver_rules_lq(kMoeSaverRulesStatic, ", include: ['*self_attn*']") + ", " +
                moe_saver_rules_lq(kMoeSaverRulesDynamic, ", include: ['*mlp*']" + no_router) + "]",
            hf)
            .empty());
  // W4A8_DYNAMIC on experts only (qwen3-30b-w4a8 practice): its MoE scheme loads this layout.
  CHECK(moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic, ", include: ['*self_attn*']") +
                                   ", " + moe_saver_rules_lq(kW4A8, ", include: ['*experts*']") + "]",
                               hf)
            .empty());
  // ... while W4A8 on dense linears stays refused.
  CHECK(moe_saver_rules_ascend("[" + moe_saver_rules_lq(kW4A8, no_router) + "]", hf)
            .find("dense W4A8_DYNAMIC") != std::string::npos);
  // W8A8 static on experts: no "moe" scheme registered.
  const std::string stat =
      moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesStatic, no_router) + "]", hf);
  CHECK(stat.find("ascendv1_saver: spec.process.0 (linear_quant) quantizes the routed experts of "
                  "model.layers.0.mlp.experts") != std::string::npos);
  CHECK(stat.find("NotImplementedError for layer_type moe") != std::string::npos);
  CHECK(stat.find("engine: none") != std::string::npos);
  CHECK(moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesW8A16, no_router) + "]", hf)
            .find("W8A16 for \"linear\" only") != std::string::npos);
  // One expert left float: the FusedMoE of layer 1 would be split.
  const std::string split = moe_saver_rules_ascend(
      "[" +
          moe_saver_rules_lq(kMoeSaverRulesDynamic, ", exclude: ['*mlp.gate', '*layers.1.mlp.experts.2.*']") +
          "]",
      hf);
  CHECK(split.find("model.layers.1.mlp.experts is one FusedMoE module in vllm-ascend") != std::string::npos);
  CHECK(split.find("model.layers.1.mlp.experts.2.gate_proj: float") != std::string::npos);
  CHECK(split.find("exclude: ['model.layers.1.mlp.experts.*']") != std::string::npos);
  // Every expert of a layer excluded is fine; two configs giving experts of one layer different types are
  // not.
  CHECK(moe_saver_rules_ascend("[" +
                                   moe_saver_rules_lq(kMoeSaverRulesDynamic,
                                                      ", exclude: ['*mlp.gate', '*layers.1.mlp.experts.*']") +
                                   "]",
                               hf)
            .empty());
  CHECK(moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic, no_router) + ", " +
                                   moe_saver_rules_lq(kW4A8, ", include: ['*experts.1.*']") + "]",
                               hf)
            .find("is one FusedMoE module") != std::string::npos);
  // Routers: Qwen3-MoE's gate is built with the quant config (loads); Qwen2-MoE's and Mixtral's are not.
  CHECK(moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic) + "]", hf).empty());
  const std::string qwen2_router =
      moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic) + "]", moe_config("qwen2_moe"));
  CHECK(qwen2_router.find("model.layers.0.mlp.gate is quantized") != std::string::npos);
  CHECK(qwen2_router.find("keep the routers in float") != std::string::npos);
  CHECK(moe_saver_rules_ascend(
            "[" + moe_saver_rules_lq(kMoeSaverRulesDynamic, ", exclude: ['*mlp.gate']") + "]",
            moe_config("qwen2_moe"))
            .empty());
  CHECK(moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic) + "]", moe_config("mixtral"))
            .find("block_sparse_moe.gate is quantized") != std::string::npos);
  const auto shared = moe_config("qwen2_moe", {{"shared_expert_intermediate_size", 16}});
  CHECK(moe_saver_rules_ascend("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic, no_router) + "]", shared)
            .find("mlp.shared_expert_gate is quantized") != std::string::npos);
  CHECK(moe_saver_rules_ascend(
            "[" +
                moe_saver_rules_lq(kMoeSaverRulesDynamic, ", exclude: ['*mlp.gate', '*shared_expert_gate']") +
                "]",
            shared)
            .empty());
  // The shared expert is an ordinary MLP: its gate/up are one fused module.
  CHECK(
      moe_saver_rules_ascend(
          "[" + moe_saver_rules_lq(kMoeSaverRulesDynamic, ", exclude: ['*mlp.gate', '*shared_expert_gate']") +
              ", " + moe_saver_rules_lq(kMoeSaverRulesStatic, ", include: ['*shared_expert.up_proj']") + "]",
          shared)
          .find("shared_expert.gate_up_proj is one fused module") != std::string::npos);
  // Asymmetric smoothing of post_attention_layernorm gives experts biases that FusedMoE does not have.
  const std::string asym = moe_saver_rules_ascend(
      "[{type: iter_smooth, symmetric: false, include: ['*post_attention_layernorm']}, " +
          moe_saver_rules_lq(kMoeSaverRulesDynamic, no_router) + "]",
      hf);
  CHECK(asym.find("model.layers.0.mlp.gate") != std::string::npos);
  // The opt-out writes the reference's layout anyway.
  CHECK(refusal_of<ascendv1::AscendV1Saver>("{type: ascendv1_saver, engine: none}",
                                            "[" + moe_saver_rules_lq(kMoeSaverRulesStatic) + "]", hf)
            .empty());
}

TEST_CASE("vLLM compressed-tensors MoE rules at config time: what get_moe_method loads") {
  const auto hf = moe_config("qwen3_moe");
  const std::string no_router = ", exclude: ['*mlp.gate']";
  CHECK(vllm("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic, no_router) + "]", hf).empty());
  CHECK(vllm("[" + moe_saver_rules_lq(kMoeSaverRulesW8A16, no_router) + "]", hf).empty());
  CHECK(vllm("[" + moe_saver_rules_lq(kW4A16Group128, no_router) + "]", hf).empty());
  // Static int8 experts: no MoE method.
  const std::string stat = vllm("[" + moe_saver_rules_lq(kMoeSaverRulesStatic, no_router) + "]", hf);
  CHECK(stat.find("compressed_tensors saver: spec.process.0 (linear_quant) quantizes the routed experts") !=
        std::string::npos);
  CHECK(stat.find("Unsupported FusedMoe scheme") != std::string::npos);
  // Static attention with dynamic experts is fine (one config group per scheme).
  CHECK(vllm("[" + moe_saver_rules_lq(kMoeSaverRulesStatic, ", include: ['*self_attn*']") + ", " +
                 moe_saver_rules_lq(kMoeSaverRulesDynamic, ", include: ['*experts*']") + "]",
             hf)
            .empty());
  const std::string split = vllm(
      "[" + moe_saver_rules_lq(kMoeSaverRulesDynamic, ", exclude: ['*mlp.gate', '*experts.0.down_proj']") +
          "]",
      hf);
  CHECK(split.find("model.layers.0.mlp.experts is one FusedMoE module in vLLM") != std::string::npos);
  CHECK(split.find("All MoE projections need to have same quantization scheme") != std::string::npos);
  CHECK(vllm("[" + moe_saver_rules_lq(kMoeSaverRulesDynamic) + "]", moe_config("mixtral"))
            .find("block_sparse_moe.gate is quantized") != std::string::npos);
  // A Llama config is untouched by the MoE rules.
  CHECK(vllm("[" + moe_saver_rules_lq(kMoeSaverRulesStatic) + "]", test::llama_config()).empty());
}

TEST_CASE("MoE save time: experts of one block saved differently fail in both savers") {
  const auto hf = moe_config("qwen3_moe");
  MoeNamedBlock block("model.layers.0", 3);
  block.quantize_dynamic();
  CHECK_NOTHROW(ascendv1::check_vllm_ascend_block(block, hf));
  CHECK_NOTHROW(compressed_tensors::check_vllm_block(block, hf));
  block.linear("mlp.experts.2.down_proj").set_quantized(nullptr);
  CHECK_THROWS_WITH_AS(ascendv1::check_vllm_ascend_block(block, hf),
                       doctest::Contains("model.layers.0.mlp.experts.2.down_proj: float"), Error);
  CHECK_THROWS_WITH_AS(compressed_tensors::check_vllm_block(block, hf),
                       doctest::Contains("model.layers.0.mlp.experts is one FusedMoE module"), Error);
  // A quantized router of a model whose engine builds it in float.
  MoeNamedBlock routed("model.layers.0", 2);
  routed.quantize_dynamic();
  routed.linear("mlp.gate").set_quantized(routed.linear("self_attn.o_proj").quantized());
  CHECK_NOTHROW(ascendv1::check_vllm_ascend_block(routed, hf));
  CHECK_THROWS_WITH_AS(ascendv1::check_vllm_ascend_block(routed, moe_config("qwen2_moe")),
                       doctest::Contains("model.layers.0.mlp.gate is quantized"), Error);
}

TEST_CASE("ascendv1 names every expert's tensors and the float router as the reference's saver does") {
  test::TempDir dir("moe-ascend");
  const auto hf = moe_config("qwen3_moe");
  test::ConfigOnlyAdapter adapter(at::kFloat, hf);
  MoeNamedBlock block("model.layers.0", 2);
  block.quantize_dynamic();
  ascendv1::AscendV1Saver saver(parse_yaml_string("{type: ascendv1_saver, part_file_size: 0}", "s.yaml"));
  saver.begin({dir.path(), dir.path(), adapter, nullptr});
  saver.save_block(block);
  saver.finish({});
  const auto description = read_json_file(dir / "quant_model_description.json");
  // The reference (save/ascendv1.py on_w8a8_dynamic_per_channel, on_float_module): <module>.weight,
  // .weight_scale, .weight_offset per expert linear; the router's weight as FLOAT.
  for (const char* expert : {"0", "1"}) {
    for (const char* leaf : {"gate_proj", "up_proj", "down_proj"}) {
      const std::string module = std::string("model.layers.0.mlp.experts.") + expert + "." + leaf;
      for (const char* suffix : {".weight", ".weight_scale", ".weight_offset"}) {
        CAPTURE(module + suffix);
        CHECK(description.value(module + suffix, std::string()) == "W8A8_DYNAMIC");
      }
    }
  }
  CHECK(description["model.layers.0.mlp.gate.weight"] == "FLOAT");
  CHECK(description["model_quant_type"] == "W8A8_DYNAMIC");
  std::size_t tensors = 0;
  for (const auto& [key, value] : description.items())
    tensors += value.is_string() && key != "version" && key != "model_quant_type";
  CHECK(tensors == 4 * 3 + 2 * 3 * 3 + 1 + 1);  // attention, experts, router, norm
}
