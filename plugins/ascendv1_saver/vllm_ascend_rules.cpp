#include "vllm_ascend_rules.hpp"

#include "attention_rules.hpp"

#include <algorithm>

#include "ascend_tensors.hpp"
#include "deepseek_rules.hpp"
#include "engine_rules.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fused_module_source.hpp"
#include "moe_rules.hpp"
#include "practice_reading.hpp"

namespace modelslim::ascendv1 {
namespace {

using saver_rules::LinearQuantUse;

constexpr const char* kRulesSaver = "ascendv1_saver";
constexpr const char* kFusedRule =
    "vllm-ascend (quantization/modelslim_config.py get_linear_quant_type / is_layer_skipped_ascend raise "
    "ValueError when the shards of a packed module differ)";
constexpr const char* kOptOut =
    "or set `engine: none` on the saver to write the reference's layout for another runtime";

[[noreturn]] void refuse(const LinearQuantUse& use, const std::string& rule, const std::string& alternative) {
  throw Error(ErrorCode::kUnsupported,
              std::string(kRulesSaver) + ": " + saver_rules::processor_label(use.config) + " quantizes " +
                  use.describe() + ", which vllm-ascend cannot serve: " + rule,
              alternative + "; " + kOptOut);
}

// The forms vllm-ascend's dense-linear schemes load (quantization/methods/*.py, register_scheme(...,
// "linear")).
void check_loadable(const LinearQuantUse& use) {
  if (use.scheme == "W4A16") {
    refuse(use, "W4A16 is registered for MoE layers only (methods/w4a16.py), dense linears do not load",
           "use W8A16 (int8 per_channel symmetric) for ascendv1, or the compressed_tensors saver for vLLM");
  }
  if (use.scheme == "W4A8_DYNAMIC") {
    refuse(use,
           "its dense W4A8_DYNAMIC (methods/w4a8.py) expects the per-group two-level layout "
           "(weight_scale_second, group_size > 0); this per-channel layout writes group_size 0, which it "
           "divides by",
           "use W8A8_DYNAMIC (act int8 per_token, weight int8 per_channel)");
  }
  if (use.scheme == "W8A16" && use.group_size > 0) {
    refuse(use,
           "its W8A16 scheme (methods/w8a16.py) creates weight_scale/weight_offset as [out, 1]; per-group "
           "scales fail the loader's shape check",
           "use weight scope per_channel");
  }
  if (use.scheme == "W8A16" && !use.weight_symmetric) {
    refuse(
        use,
        "its W8A16 scheme passes weight_offset to npu_weight_quant_batchmatmul, which computes "
        "(w + offset)·scale, while the saved offset means (w − offset)·scale: the result is silently wrong",
        "use symmetric: true for the weights");
  }
}

// Routed experts (quantization/methods/*.py, register_scheme(..., "moe")): W8A8_DYNAMIC and W4A8_DYNAMIC
// (the msModelSlim per-channel layout) only. The FusedMoE type comes from expert 0 (modelslim_config.py
// packed_modules_model_mapping["qwen3_moe"]["experts"]).
std::string expert_refusal(const LinearQuantUse& use) {
  if (use.scheme == "W8A8")
    return "no MoE scheme is registered for W8A8 with static activations (methods/w8a8_static.py registers "
           "\"linear\" only; create_scheme_for_layer raises NotImplementedError for layer_type moe)";
  if (use.scheme == "W8A16") return "methods/w8a16.py registers W8A16 for \"linear\" only, not \"moe\"";
  if (use.scheme == "W8A8_MIX")
    return "methods/w8a8_pdmix.py registers W8A8_MIX for \"linear\" only, not \"moe\"";
  if (use.scheme == "W4A16")
    return "its MoE W4A16 scheme (methods/w4a16.py) loads LLM-Compressor's weight_packed / weight_shape "
           "tensors, not the ascendv1 int4 pairs";
  if (use.scheme == "W4A8_DYNAMIC" && (use.group_size > 0 || !use.weight_symmetric))
    return "its MoE W4A8_DYNAMIC scheme (methods/w4a8.py) takes per-channel symmetric int4 weights only "
           "(per-group: \"no longer supported\")";
  return "";
}

const saver_rules::MoeEngine kMoe{kRulesSaver, "vllm-ascend",
                                  "quantization/modelslim_config.py takes the FusedMoE type from expert 0's "
                                  "gate/up/down and loads every expert into that scheme's parameters",
                                  expert_refusal, kOptOut};

struct NormReaders {
  std::string norm;  // module name, as smoothing include/exclude patterns match it
  std::vector<std::string> linears;
};

bool reads_post_attention_norm(const std::string& name) {
  for (const char* leaf : {".gate_proj", ".up_proj", ".w1", ".w3", ".gate", ".shared_expert_gate"}) {
    const std::string suffix = leaf;
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  }
  return false;
}

// The linears reading each norm of a layer: q/k/v, and the MLP's input linears (dense gate/up, or the
// router, every expert's gate/up and the shared expert of a sparse block).
// DeepSeek's MLA norms: input_layernorm → q_a_proj (or q_proj) and kv_a_proj_with_mqa, q_a_layernorm →
// q_b_proj, kv_a_layernorm → kv_b_proj.
std::vector<NormReaders> mla_norm_readers(const nlohmann::json& hf_config, const std::string& prefix) {
  const std::string attn = prefix + "self_attn.";
  const bool q_lora = hf_config.contains("q_lora_rank") && hf_config["q_lora_rank"].is_number_integer();
  std::vector<NormReaders> readers = {
      {prefix + "input_layernorm", {attn + (q_lora ? "q_a_proj" : "q_proj"), attn + "kv_a_proj_with_mqa"}},
      {attn + "kv_a_layernorm", {attn + "kv_b_proj"}}};
  if (q_lora) readers.push_back({attn + "q_a_layernorm", {attn + "q_b_proj"}});
  return readers;
}

std::vector<NormReaders> norm_readers(const nlohmann::json& hf_config, std::int64_t layer) {
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  NormReaders mlp{prefix + "post_attention_layernorm", {}};
  for (const std::string& name : saver_rules::layer_linears(hf_config, layer)) {
    if (name.find(".self_attn.") == std::string::npos && reads_post_attention_norm(name))
      mlp.linears.push_back(name);
  }
  std::vector<NormReaders> readers =
      saver_rules::is_deepseek_config(hf_config)
          ? mla_norm_readers(hf_config, prefix)
          : std::vector<NormReaders>{
                {prefix + "input_layernorm",
                 {prefix + "self_attn.q_proj", prefix + "self_attn.k_proj", prefix + "self_attn.v_proj"}}};
  readers.push_back(mlp);
  return readers;
}

// vllm-ascend attention/mla_v1.py process_weights_after_loading: "We currently do not support quant
// kv_b_proj" (assert UnquantizedLinearMethod): kv_b_proj is absorbed into attention in float.
constexpr const char* kKvBRule =
    "vllm-ascend absorbs kv_b_proj into MLA attention in float (attention/mla_v1.py "
    "process_weights_after_loading asserts UnquantizedLinearMethod: \"We currently do not support quant "
    "kv_b_proj\")";
constexpr const char* kKvBAlternative =
    "keep kv_b_proj in float (exclude: ['*kv_b_proj']), as the reference's DeepSeek practices do";

void check_kv_b_config(const std::vector<LinearQuantUse>& uses, const nlohmann::json& hf_config) {
  if (!saver_rules::is_deepseek_config(hf_config)) return;
  for (std::int64_t layer = 0; layer < saver_rules::num_hidden_layers(hf_config); ++layer) {
    const std::string name = "model.layers." + std::to_string(layer) + ".self_attn.kv_b_proj";
    const LinearQuantUse* use = saver_rules::deciding_use(uses, name);
    if (use == nullptr) continue;
    throw Error(ErrorCode::kUnsupported,
                std::string(kRulesSaver) + ": " + saver_rules::processor_label(use->config) + " quantizes " +
                    name + " as " + use->describe() + ", but " + kKvBRule,
                std::string(kKvBAlternative) + "; " + kOptOut);
  }
}

bool smooths_norm(const ConfigNode& smoothing, const std::string& norm) {
  const auto types = smoothing.get_string_list("enable_subgraph_type", {"norm-linear"});
  if (std::find(types.begin(), types.end(), "norm-linear") == types.end()) return false;
  const LinearQuantUse filter{smoothing,
                              "",
                              8,
                              true,
                              0,
                              ActivationQuantMode::kNone,
                              true,
                              smoothing.get_string_list("include", {"*"}),
                              smoothing.get_string_list("exclude", {})};
  return filter.selects(norm);
}

// Asymmetric smoothing adds a norm bias (AscendRMSNorm adds it: ops/layernorm.py, when the description has
// `norm.bias` keys) and a bias on each linear reading that norm. W8A8 folds that bias into quant_bias; the
// other schemes and float linears add the model's own bias parameter, which exists only where vLLM's
// model has one.
void check_asymmetric_smoothing(const ConfigNode& smoothing, const std::vector<LinearQuantUse>& uses,
                                const nlohmann::json& hf_config) {
  for (std::int64_t layer = 0; layer < saver_rules::num_hidden_layers(hf_config); ++layer) {
    for (const NormReaders& readers : norm_readers(hf_config, layer)) {
      if (!smooths_norm(smoothing, readers.norm)) continue;
      for (const std::string& linear : readers.linears) {
        const LinearQuantUse* use = saver_rules::deciding_use(uses, linear);
        if ((use != nullptr && use->scheme == "W8A8") || saver_rules::engine_has_bias(hf_config, linear))
          continue;
        throw Error(
            ErrorCode::kUnsupported,
            std::string(kRulesSaver) + ": " + saver_rules::processor_label(smoothing) +
                " with symmetric: false gives " + linear + " a bias, which vllm-ascend drops: its model (" +
                hf_config.value("model_type", std::string("llama")) + ") has no bias parameter there and " +
                (use == nullptr ? std::string("the layer stays float")
                                : "its " + use->scheme + " scheme does not fold biases (only W8A8 does)"),
            "use symmetric: true, or quantize every linear the smoothing touches as W8A8 (static "
            "per_tensor activations); " +
                std::string(kOptOut));
      }
    }
  }
}

}  // namespace

std::vector<std::string> check_vllm_ascend_practice(const PracticeView& practice) {
  const std::vector<ConfigNode> flat = saver_rules::flatten_processors(practice.processors);
  saver_rules::check_fa3_vllm_ascend(flat, practice.hf_config);
  const std::vector<LinearQuantUse> uses = saver_rules::linear_quant_uses(flat);
  const auto key = [](const LinearQuantUse* use) { return use == nullptr ? "" : use->scheme; };
  const std::vector<saver_rules::UseScope> scopes = saver_rules::use_scopes(uses, practice.hf_config);
  for (std::size_t i = 0; i < uses.size(); ++i) {
    if (scopes[i].dense) check_loadable(uses[i]);  // experts: check_moe_config
  }
  check_kv_b_config(uses, practice.hf_config);
  saver_rules::check_moe_config(kMoe, uses, practice.hf_config, key);
  for (const ConfigNode& smoothing : saver_rules::asymmetric_smoothing(flat))
    check_asymmetric_smoothing(smoothing, uses, practice.hf_config);
  saver_rules::check_fused_config(kRulesSaver, kFusedRule, uses, practice.hf_config, key);
  return {};
}

void check_vllm_ascend_block(Block& block, const nlohmann::json& hf_config,
                             std::vector<std::pair<std::string, std::string>>* block_keys) {
  std::vector<std::pair<std::string, std::string>> types;
  for (const Linear* linear : block.linears()) {
    const auto& quantized = linear->quantized();
    std::string type;
    try {
      type = quantized ? ascend_quant_type(*quantized) : "";
    } catch (const Error& error) {
      throw Error(error.code(), linear->name() + ": " + error.what(), error.tip());
    }
    types.emplace_back(linear->name(), type);
    if (!type.empty() && saver_rules::is_deepseek_config(hf_config) &&
        saver_rules::is_kv_b_proj(linear->name()))
      throw Error(ErrorCode::kUnsupported,
                  std::string(kRulesSaver) + ": " + linear->name() + " was quantized as " + type + ", but " +
                      kKvBRule,
                  std::string(kKvBAlternative) + "; " + kOptOut);
    const bool has_bias = quantized ? quantized->bias.has_value() : linear->bias().has_value();
    if (!has_bias || type == "W8A8" || saver_rules::engine_has_bias(hf_config, linear->name())) continue;
    throw Error(
        ErrorCode::kUnsupported,
        std::string(kRulesSaver) + ": " + linear->name() + ".bias would be dropped by vllm-ascend: its " +
            hf_config.value("model_type", std::string("llama")) +
            " model has no bias parameter for this layer and " +
            (type.empty() ? std::string("the layer is float") : type + " does not fold biases"),
        "the bias comes from asymmetric smoothing or the checkpoint: use symmetric: true, or quantize "
        "the layer as W8A8; " +
            std::string(kOptOut));
  }
  if (block_keys != nullptr) {
    block_keys->insert(block_keys->end(), types.begin(), types.end());
    saver_rules::check_moe_block(kMoe, *block_keys, hf_config);
  } else {
    saver_rules::check_moe_block(kMoe, types, hf_config);
  }
  saver_rules::check_fused_block(kRulesSaver, kFusedRule, types, block_fused_modules(block));
}

}  // namespace modelslim::ascendv1
