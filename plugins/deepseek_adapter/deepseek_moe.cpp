#include "deepseek_moe.hpp"

#include <ATen/ATen.h>

namespace modelslim::deepseek {
namespace {

// Zeroes the choice scores of experts outside the topk_group best groups (transformers fills 0, not -inf).
at::Tensor limit_to_groups(const at::Tensor& choice, const DeepseekConfig& config) {
  const std::int64_t tokens = choice.size(0);
  const std::int64_t per_group = config.n_routed_experts / config.n_group;
  const at::Tensor grouped = choice.view({tokens, config.n_group, per_group});
  const at::Tensor group_scores = config.topk_method == TopkMethod::kNoauxTc
                                      ? std::get<0>(grouped.topk(2, -1)).sum(-1)
                                      : grouped.amax(-1);
  const at::Tensor best_groups = std::get<1>(group_scores.topk(config.topk_group, -1));
  const at::Tensor group_mask = at::zeros_like(group_scores).scatter_(1, best_groups, 1.0);
  const at::Tensor expert_mask =
      group_mask.unsqueeze(-1).expand({tokens, config.n_group, per_group}).reshape({tokens, -1});
  return choice.masked_fill(expert_mask == 0, 0.0);
}

}  // namespace

Routing route_tokens(const at::Tensor& logits, const DeepseekConfig& config,
                     const at::Tensor& correction_bias) {
  const at::Tensor scores =
      config.scoring == Scoring::kSoftmax ? at::softmax(logits, -1) : at::sigmoid(logits);
  at::Tensor choice = correction_bias.defined() ? scores + correction_bias.unsqueeze(0) : scores;
  if (config.topk_method != TopkMethod::kGreedy && config.n_group > 1)
    choice = limit_to_groups(choice, config);
  const at::Tensor experts = std::get<1>(choice.topk(config.num_experts_per_tok, -1));
  at::Tensor weights = scores.gather(1, experts);
  // V3 (transformers): normalize when asked, then always scale. V2 (DeepSeek's code): normalize (top-k > 1)
  // or scale, not both.
  const bool normalize = config.norm_topk_prob && (config.scale_after_norm || config.num_experts_per_tok > 1);
  if (normalize) weights = weights / (weights.sum(-1, true) + 1e-20);
  if (!normalize || config.scale_after_norm) weights = weights * config.routed_scaling_factor;
  return {experts, weights};
}

}  // namespace modelslim::deepseek
