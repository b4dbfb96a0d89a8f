// The config.json fields of Hugging Face `deepseek_v2`, `deepseek_v3` and `kimi_k2` checkpoints: multi-head
// latent attention (MLA), YaRN rotary scaling, and the DeepSeek-MoE router.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "modelslim/fp8_checkpoint.hpp"

namespace modelslim::deepseek {

// rope_scaling of type "yarn" (DeepSeek's YaRN, as transformers computes it).
struct YarnScaling {
  double factor = 1.0;
  double original_max_position_embeddings = 4096;
  double beta_fast = 32;
  double beta_slow = 1;
  double mscale = 0;          // 0: absent
  double mscale_all_dim = 0;  // 0: absent
  std::optional<double> attention_factor;
};

enum class Scoring { kSoftmax, kSigmoid };
// greedy: top-k over all experts; group_limited_greedy: groups ranked by their best score (V2);
// noaux_tc: groups ranked by the sum of their two best biased scores (V3).
enum class TopkMethod { kGreedy, kGroupLimitedGreedy, kNoauxTc };

struct DeepseekConfig {
  std::string model_type;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;  // dense layers
  std::int64_t num_layers = 0;         // decoder layers, without the MTP layers
  std::int64_t num_heads = 0;
  std::int64_t vocab_size = 0;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;

  // MLA
  std::int64_t q_lora_rank = 0;  // 0: q_proj, no low-rank query
  std::int64_t kv_lora_rank = 0;
  std::int64_t qk_nope_head_dim = 0;
  std::int64_t qk_rope_head_dim = 0;
  std::int64_t v_head_dim = 0;
  double rope_theta = 10000.0;
  bool rope_interleave = true;  // pairs (2i, 2i+1) rotate together (DeepSeek's layout)
  std::optional<YarnScaling> yarn;

  // MoE
  std::int64_t n_routed_experts = 0;  // 0: every layer dense
  std::int64_t n_shared_experts = 0;
  std::int64_t moe_intermediate_size = 0;
  std::int64_t num_experts_per_tok = 0;
  std::int64_t first_k_dense_replace = 0;
  std::int64_t moe_layer_freq = 1;
  std::int64_t n_group = 1;
  std::int64_t topk_group = 1;
  Scoring scoring = Scoring::kSoftmax;
  TopkMethod topk_method = TopkMethod::kGreedy;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  // DeepSeek-V2's rule: normalized top-k weights are not scaled (V3 normalizes, then scales).
  bool scale_after_norm = true;

  std::int64_t num_nextn_predict_layers = 0;  // MTP layers, stored after the decoder layers
  std::optional<Fp8BlockSize> fp8;            // FP8 block-quantized checkpoint

  std::int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(std::int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
};

// Throws Error(kInvalidModel) naming config.json and the field for missing, invalid or unsupported values.
DeepseekConfig parse_deepseek_config(const nlohmann::json& config, const std::filesystem::path& model_dir);

// YaRN's attention temperature: 0.1 · mscale · ln(factor) + 1 for factor > 1, else 1.
double yarn_mscale(double factor, double mscale);
// The factor cos/sin are multiplied by (1 without YaRN).
double rope_attention_factor(const DeepseekConfig& config);
// qk_head_dim^-0.5, times yarn_mscale(factor, mscale_all_dim)² when YaRN gives mscale_all_dim.
double softmax_scale(const DeepseekConfig& config);

}  // namespace modelslim::deepseek
