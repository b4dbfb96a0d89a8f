// DeepSeek-MoE routing: softmax (V2) or sigmoid (V3) scores, e_score_correction_bias added for the choice
// only, group-limited top-k (groups ranked by their best score, or by the sum of their two best biased
// scores), then the chosen scores normalized and/or scaled by routed_scaling_factor.
#pragma once

#include <ATen/core/Tensor.h>

#include "deepseek_config.hpp"

namespace modelslim::deepseek {

struct Routing {
  at::Tensor experts;  // int64 [tokens, num_experts_per_tok]
  at::Tensor weights;  // float32 [tokens, num_experts_per_tok]
};

// `logits`: float32 [tokens, n_routed_experts] (the router's output). `correction_bias`: float32
// [n_routed_experts] or undefined.
Routing route_tokens(const at::Tensor& logits, const DeepseekConfig& config,
                     const at::Tensor& correction_bias);

}  // namespace modelslim::deepseek
