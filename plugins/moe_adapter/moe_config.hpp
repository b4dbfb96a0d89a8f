// The config.json fields of the mixture-of-experts families this adapter reads: Hugging Face `qwen3_moe`,
// `qwen2_moe` and `mixtral` (transformers Qwen3MoeConfig, Qwen2MoeConfig, MixtralConfig).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelslim::moe {

enum class MoeFamily { kQwen3Moe, kQwen2Moe, kMixtral };

struct MoeConfig {
  std::string model_type;
  MoeFamily family = MoeFamily::kQwen3Moe;
  std::int64_t hidden_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t vocab_size = 0;
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;            // Qwen2-MoE always; others with attention_bias
  bool qk_norm = false;             // Qwen3-MoE
  std::int64_t sliding_window = 0;  // 0: none

  std::int64_t intermediate_size = 0;                // dense layers' MLP (Mixtral: every expert's)
  std::int64_t num_experts = 0;                      // routed experts per sparse layer
  std::int64_t top_k = 0;                            // num_experts_per_tok
  std::int64_t expert_intermediate_size = 0;         // moe_intermediate_size (Mixtral: intermediate_size)
  bool norm_topk_prob = false;                       // renormalise the top-k weights to sum 1
  std::int64_t shared_expert_intermediate_size = 0;  // Qwen2-MoE's shared expert; 0: none
  std::vector<bool> sparse_layers;                   // per layer: an MoE block (else a dense MLP)

  bool is_sparse(std::int64_t layer) const { return sparse_layers.at(static_cast<std::size_t>(layer)); }
  // The MLP module's name inside a layer: "mlp", Mixtral's sparse layers "block_sparse_moe".
  std::string moe_module() const { return family == MoeFamily::kMixtral ? "block_sparse_moe" : "mlp"; }
};

// The model_type values this adapter handles, and the architecture class names.
const std::vector<std::string>& moe_model_types();

// Throws Error(kInvalidModel) naming config.json and the field for missing or invalid values, and
// Error(kUnsupported) for a model_type this adapter does not handle.
MoeConfig parse_moe_config(const nlohmann::json& config, const std::filesystem::path& model_dir);

}  // namespace modelslim::moe
