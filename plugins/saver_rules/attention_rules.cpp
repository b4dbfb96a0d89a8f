#include "attention_rules.hpp"

#include "modelslim/error.hpp"

namespace modelslim::saver_rules {
namespace {

[[noreturn]] void refuse(const std::string& saver, const ConfigNode& node, const std::string& what,
                         const std::string& tip) {
  throw Error(ErrorCode::kUnsupported, saver + ": " + node.location() + ": " + node.path() + ": " + what,
              tip);
}

bool static_per_head(const ConfigNode& qconfig) {
  return !qconfig.defined() || qconfig.get_string("scope", "per_head") == "per_head";
}

}  // namespace

std::vector<ConfigNode> fa3_configs(const std::vector<ConfigNode>& flat) {
  std::vector<ConfigNode> result;
  for (const ConfigNode& node : flat) {
    if (node.get_string("type", "") == "fa3_quant") result.push_back(node);
  }
  return result;
}

void check_fa3_vllm_ascend(const std::vector<ConfigNode>& flat, const nlohmann::json& hf_config) {
  const std::string saver = "ascendv1_saver (engine: vllm-ascend)";
  const std::string tip_none =
      "use engine: none to write the reference's FA3 layout anyway (modelslim eval computes it), or remove "
      "fa3_quant";
  for (const ConfigNode& fa3 : fa3_configs(flat)) {
    if (!hf_config.contains("kv_lora_rank") || hf_config["kv_lora_rank"].is_null()) {
      refuse(saver, fa3,
             "vllm-ascend applies FA3 (FAKQuant) in MLA attention only (DeepSeek); this model's attention "
             "would load the fa_q/fa_k/fa_v scales and compute in float",
             tip_none);
    }
    bool all_static = static_per_head(fa3["qconfig"]);
    if (fa3.has("details") && fa3["details"].defined()) {
      for (const char* input : {"fa_q", "fa_k", "fa_v"}) {
        all_static = all_static && fa3["details"].has(input) && fa3["details"][input].defined() &&
                     static_per_head(fa3["details"][input]);
      }
    }
    if (!all_static) {
      refuse(saver, fa3,
             "vllm-ascend's FAKQuant reads static per-head scales for fa_q, fa_k and fa_v; per_token or "
             "absent inputs leave its parameters unset",
             "use the default qconfig (int8 per_head) or engine: none");
    }
  }
}

void check_fa3_compressed_tensors(const std::vector<ConfigNode>& flat) {
  for (const ConfigNode& fa3 : fa3_configs(flat)) {
    refuse("compressed_tensors", fa3,
           "fa3_quant (int8 Q/K/V per head or per token) has no compressed-tensors form: vLLM's attention "
           "quantization is FP8 with per-tensor q/k/v scales",
           "save with ascendv1_saver (the reference's FA3 layout, which vllm-ascend loads for MLA models), "
           "or remove fa3_quant");
  }
}

}  // namespace modelslim::saver_rules
