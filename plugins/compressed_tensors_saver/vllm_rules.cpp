#include "vllm_rules.hpp"

#include "attention_rules.hpp"

#include <algorithm>

#include "compressed_tensors_layout.hpp"
#include "engine_rules.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fused_module_source.hpp"
#include "moe_rules.hpp"
#include "practice_reading.hpp"

namespace modelslim::compressed_tensors {
namespace {

using saver_rules::LinearQuantUse;

constexpr const char* kSaver = "compressed_tensors saver";
constexpr const char* kFusedRule =
    "vLLM (compressed_tensors/utils.py should_ignore_layer raises ValueError when only some shards are "
    "ignored; _match_fused_layer loads every shard with the first shard's scheme)";

[[noreturn]] void refuse(const ConfigNode& config, const std::string& what, const std::string& alternative) {
  throw Error(ErrorCode::kUnsupported,
              std::string(kSaver) + ": " + saver_rules::processor_label(config) + ": " + what, alternative);
}

void check_use(const LinearQuantUse& use) {
  if (use.act_mode == ActivationQuantMode::kNone) {
    if (!use.weight_symmetric) {
      refuse(use.config, "asymmetric weight-only quantization has no compressed-tensors layout here",
             "use symmetric: true for the weights");
    }
    // Marlin (quantization/utils/marlin_utils.py MARLIN_SUPPORTED_GROUP_SIZES = [-1, 32, 64, 128]) is the
    // kernel vLLM picks for bf16 weight-only layers; Machete takes fewer sizes.
    const std::int64_t g = use.group_size;
    if (g != 0 && g != 32 && g != 64 && g != 128) {
      refuse(use.config,
             use.describe() +
                 ": vLLM's weight-only kernel (Marlin) takes per-channel or group sizes 32, 64, 128 "
                 "only; the layer would not load",
             "use ext.group_size 32, 64 or 128, or scope per_channel");
    }
    return;
  }
  if (use.scheme == "W8A8_MIX") {
    refuse(use.config, use.describe() + " (pd_mix, W8A8_MIX) has no compressed-tensors layout",
           "use act scope per_token (W8A8_DYNAMIC) or per_tensor (W8A8), or the ascendv1 saver");
  }
  if (use.weight_bits != 8 || use.group_size > 0 || !use.weight_symmetric) {
    refuse(use.config, use.describe() + " with quantized activations has no compressed-tensors layout here",
           "quantized activations need int8 per_channel symmetric weights (W8A8, W8A8_DYNAMIC)");
  }
}

// compressed_tensors_moe.py CompressedTensorsMoEMethod.get_moe_method: int8 experts need
// CompressedTensorsW8A8Int8MoEMethod (channel weights, dynamic per-token inputs); weight-only goes to the
// WNA16 MoE methods (pack-quantized, 4 or 8 bits: the same forms and Marlin group sizes as dense linears).
std::string expert_refusal(const LinearQuantUse& use) {
  if (use.act_mode == ActivationQuantMode::kStaticPerTensor)
    return "compressed_tensors_moe.py has no int8 MoE method with static activation scales "
           "(CompressedTensorsW8A8Int8MoEMethod: \"For INT8 Fused MoE layers, we require channelwise, "
           "dynamic "
           "per token quantization\"; get_moe_method raises \"Unsupported FusedMoe scheme\")";
  return "";
}

const saver_rules::MoeEngine kMoe{
    kSaver, "vLLM",
    "compressed_tensors_moe.py get_moe_method takes the scheme of expert 0's gate/up/down (\"All MoE "
    "projections "
    "need to have same quantization scheme\") and loads every expert into that method's w13/w2 parameters",
    expert_refusal, ""};

std::string scheme_key(const LinearQuantUse* use) {
  if (use == nullptr) return "";
  return use->describe() + (use->act_mode == ActivationQuantMode::kNone ? ""
                            : use->act_symmetric                        ? " act symmetric"
                                                                        : " act asymmetric");
}

std::string args_label(const nlohmann::json& args) {
  std::string text =
      "int" + std::to_string(args["num_bits"].get<int>()) + " " + args["strategy"].get<std::string>();
  if (!args["group_size"].is_null()) text += " " + std::to_string(args["group_size"].get<std::int64_t>());
  text += args["symmetric"].get<bool>() ? " symmetric" : " asymmetric";
  return args["dynamic"].get<bool>() ? text + " dynamic" : text;
}

std::string scheme_label(const GroupScheme& scheme) {
  const std::string weights = "weights " + args_label(scheme.weights);
  return scheme.activations.is_null() ? weights : weights + ", input " + args_label(scheme.activations);
}

}  // namespace

std::vector<std::string> check_vllm_practice(const PracticeView& practice) {
  const std::vector<ConfigNode> flat = saver_rules::flatten_processors(practice.processors);
  saver_rules::check_fa3_compressed_tensors(flat);
  for (const ConfigNode& smoothing : saver_rules::asymmetric_smoothing(flat)) {
    const auto types = smoothing.get_string_list("enable_subgraph_type", {"norm-linear"});
    if (std::find(types.begin(), types.end(), "norm-linear") == types.end()) continue;
    refuse(
        smoothing,
        "symmetric: false adds a bias to each smoothed norm (*layernorm.bias) and to the linears reading it; "
        "vLLM and HF transformers drop the norm bias (RMSNorm has no bias), so the saved model would compute "
        "a shifted function",
        "use symmetric: true, or the ascendv1_saver (vllm-ascend adds norm biases)");
  }
  for (const ConfigNode& processor : flat) {
    if (processor.get_string("type", "") != "dynamic_cache") continue;
    refuse(processor,
           "an int8 KV cache has no compressed-tensors form vLLM loads: its kv_cache_scheme takes fp8 "
           "(num_bits 8, type float) per-tensor symmetric scales only",
           "save the int8 KV cache with the ascendv1_saver (vllm-ascend's C8), or remove dynamic_cache");
  }
  const std::vector<LinearQuantUse> uses = saver_rules::linear_quant_uses(flat);
  for (const LinearQuantUse& use : uses) check_use(use);
  saver_rules::check_moe_config(kMoe, uses, practice.hf_config, scheme_key);
  saver_rules::check_fused_config(kSaver, kFusedRule, uses, practice.hf_config, scheme_key);
  return {};
}

void check_vllm_block(Block& block, const nlohmann::json& hf_config,
                      std::vector<std::pair<std::string, std::string>>* block_keys) {
  for (const NamedTensor& parameter : block.other_parameters()) {
    const std::string& name = parameter.name;
    if (name.size() >= 9 && name.compare(name.size() - 9, 9, "norm.bias") == 0) {
      throw Error(ErrorCode::kUnsupported,
                  std::string(kSaver) + ": " + name +
                      " would be dropped by vLLM and HF transformers (RMSNorm "
                      "has no bias)",
                  "the bias comes from asymmetric smoothing (use symmetric: true) or from the checkpoint "
                  "(use the ascendv1_saver)");
    }
  }
  std::vector<std::pair<std::string, std::string>> keys;
  for (const Linear* linear : block.linears()) {
    const auto& quantized = linear->quantized();
    keys.emplace_back(linear->name(), quantized ? scheme_label(scheme_of(*quantized, linear->name())) : "");
    const bool has_bias = quantized ? quantized->bias.has_value() : linear->bias().has_value();
    if (!has_bias || saver_rules::engine_has_bias(hf_config, linear->name())) continue;
    throw Error(ErrorCode::kUnsupported,
                std::string(kSaver) + ": " + linear->name() + ".bias would be dropped: vLLM's and HF's " +
                    hf_config.value("model_type", std::string("llama")) +
                    " model has no bias parameter for this layer (config.json attention_bias / mlp_bias)",
                "the bias comes from asymmetric smoothing (use symmetric: true) or from the checkpoint");
  }
  if (block_keys != nullptr) {
    block_keys->insert(block_keys->end(), keys.begin(), keys.end());
    saver_rules::check_moe_block(kMoe, *block_keys, hf_config);
  } else {
    saver_rules::check_moe_block(kMoe, keys, hf_config);
  }
  saver_rules::check_fused_block(kSaver, kFusedRule, keys, block_fused_modules(block));
}

}  // namespace modelslim::compressed_tensors
