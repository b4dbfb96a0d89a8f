// DeepSeek-V2/V3 and Kimi-K2 facts the savers share (Hugging Face names; vLLM models/deepseek_v2.py, which
// vllm-ascend uses too): each decoder layer's linears as the checkpoint spells them, the linears engines
// fuse (q_a_proj + kv_a_proj_with_mqa as `fused_qkv_a_proj` when q_lora_rank is set, gate/up of the dense
// MLP and of the shared experts as `gate_up_proj`), and the sparse layers. Facts and the engine files they
// come from: docs/savers.md ("DeepSeek").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/fused_modules.hpp"

namespace modelslim::saver_rules {

// model_type deepseek_v2, deepseek_v3 or kimi_k2.
bool is_deepseek_config(const nlohmann::json& hf_config);
// n_routed_experts > 0, layer >= first_k_dense_replace and layer % moe_layer_freq == 0 (DeepSeek's rule).
bool deepseek_sparse_layer(const nlohmann::json& hf_config, std::int64_t layer);
std::int64_t deepseek_routed_experts(const nlohmann::json& hf_config);
// Attention (q_proj, or q_a_proj + q_b_proj; kv_a_proj_with_mqa, kv_b_proj, o_proj), then the dense MLP or
// the router (mlp.gate), every routed expert's gate/up/down and the shared experts' gate/up/down.
std::vector<std::string> deepseek_layer_linears(const nlohmann::json& hf_config, std::int64_t layer);
// The fused modules of one layer (only those whose parts the layer has).
std::vector<FusedModule> deepseek_fused_modules(const nlohmann::json& hf_config, std::int64_t layer);
// "…self_attn.kv_b_proj": engines absorb it into attention and need it in float (vllm-ascend).
bool is_kv_b_proj(const std::string& linear_name);

}  // namespace modelslim::saver_rules
