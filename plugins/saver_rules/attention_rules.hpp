// What the engines load of fa3_quant (FA3, quantized attention inputs), checked before any work.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/config_node.hpp"

namespace modelslim::saver_rules {

// The fa3_quant configs among `flat` (processor configs with groups expanded).
std::vector<ConfigNode> fa3_configs(const std::vector<ConfigNode>& flat);
// vllm-ascend (quantization/methods/kv_c8.py AscendFAQuantAttentionMethod, attention/mla_v1.py) applies
// "FAKQuant" in MLA attention only, from static per-head fa_q/fa_k/fa_v scales: refuses fa3_quant on a
// model without kv_lora_rank, and per_token or missing inputs.
void check_fa3_vllm_ascend(const std::vector<ConfigNode>& flat, const nlohmann::json& hf_config);
// vLLM's compressed-tensors has no int8 attention-input form (its attention quantization is FP8 with
// per-tensor q/k/v scales): refuses fa3_quant naming the ascendv1 saver.
void check_fa3_compressed_tensors(const std::vector<ConfigNode>& flat);

}  // namespace modelslim::saver_rules
