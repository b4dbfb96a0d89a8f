#include "deepseek_rules.hpp"

#include <algorithm>

namespace modelslim::saver_rules {
namespace {

std::int64_t int_field(const nlohmann::json& hf_config, const char* key, std::int64_t fallback) {
  const auto found = hf_config.find(key);
  return found != hf_config.end() && found->is_number_integer() ? found->get<std::int64_t>() : fallback;
}

bool has_q_lora(const nlohmann::json& hf_config) {
  return int_field(hf_config, "q_lora_rank", 0) > 0;
}

bool has_shared_experts(const nlohmann::json& hf_config) {
  return int_field(hf_config, "n_shared_experts", 0) > 0;
}

std::string layer_prefix(std::int64_t layer) {
  return "model.layers." + std::to_string(layer) + ".";
}

void add_mlp(std::vector<std::string>& names, const std::string& prefix) {
  for (const char* leaf : {"gate_proj", "up_proj", "down_proj"}) names.push_back(prefix + leaf);
}

}  // namespace

bool is_deepseek_config(const nlohmann::json& hf_config) {
  const std::string type = hf_config.value("model_type", std::string());
  return type == "deepseek_v2" || type == "deepseek_v3" || type == "kimi_k2";
}

std::int64_t deepseek_routed_experts(const nlohmann::json& hf_config) {
  return std::max<std::int64_t>(0, int_field(hf_config, "n_routed_experts", 0));
}

bool deepseek_sparse_layer(const nlohmann::json& hf_config, std::int64_t layer) {
  const std::int64_t freq = std::max<std::int64_t>(1, int_field(hf_config, "moe_layer_freq", 1));
  return deepseek_routed_experts(hf_config) > 0 &&
         layer >= int_field(hf_config, "first_k_dense_replace", 0) && layer % freq == 0;
}

std::vector<std::string> deepseek_layer_linears(const nlohmann::json& hf_config, std::int64_t layer) {
  const std::string attn = layer_prefix(layer) + "self_attn.";
  std::vector<std::string> names;
  if (has_q_lora(hf_config)) {
    names = {attn + "q_a_proj", attn + "q_b_proj"};
  } else {
    names = {attn + "q_proj"};
  }
  for (const char* leaf : {"kv_a_proj_with_mqa", "kv_b_proj", "o_proj"}) names.push_back(attn + leaf);
  const std::string mlp = layer_prefix(layer) + "mlp.";
  if (!deepseek_sparse_layer(hf_config, layer)) {
    add_mlp(names, mlp);
    return names;
  }
  names.push_back(mlp + "gate");
  for (std::int64_t e = 0; e < deepseek_routed_experts(hf_config); ++e)
    add_mlp(names, mlp + "experts." + std::to_string(e) + ".");
  if (has_shared_experts(hf_config)) add_mlp(names, mlp + "shared_experts.");
  return names;
}

// vllm-ascend quantization/modelslim_config.py packed_modules_model_mapping["deepseek_v3"] (also
// deepseek_v2, kimi_k2): gate_up_proj and fused_qkv_a_proj; vLLM models/deepseek_v2.py builds
// fused_qkv_a_proj only when q_lora_rank is set.
std::vector<FusedModule> deepseek_fused_modules(const nlohmann::json& hf_config, std::int64_t layer) {
  const std::string attn = layer_prefix(layer) + "self_attn.";
  std::vector<FusedModule> modules;
  if (has_q_lora(hf_config))
    modules.push_back({attn + "fused_qkv_a_proj", {attn + "q_a_proj", attn + "kv_a_proj_with_mqa"}});
  const auto gate_up = [&](const std::string& prefix) {
    modules.push_back({prefix + "gate_up_proj", {prefix + "gate_proj", prefix + "up_proj"}});
  };
  const std::string mlp = layer_prefix(layer) + "mlp.";
  if (!deepseek_sparse_layer(hf_config, layer)) {
    gate_up(mlp);
  } else if (has_shared_experts(hf_config)) {
    gate_up(mlp + "shared_experts.");
  }
  return modules;
}

bool is_kv_b_proj(const std::string& linear_name) {
  const std::string suffix = ".self_attn.kv_b_proj";
  return linear_name.size() >= suffix.size() &&
         linear_name.compare(linear_name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace modelslim::saver_rules
