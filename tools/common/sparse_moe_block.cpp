#include "common/sparse_moe_block.hpp"

#include <ATen/ATen.h>

namespace modelslim::tools {

Routing route(const at::Tensor& router_logits, std::int64_t top_k, bool norm_topk_prob) {
  const at::Tensor probs = at::softmax(router_logits, -1, at::kFloat);
  auto [weights, selected] = at::topk(probs, top_k, -1);
  if (norm_topk_prob) weights = weights / weights.sum(-1, true);
  return {weights, selected};
}

at::Tensor sparse_moe_block(const at::Tensor& x, const at::Tensor& router,
                            const std::vector<ExpertWeights>& experts, std::int64_t top_k,
                            bool norm_topk_prob, std::vector<at::Tensor>& router_logits,
                            at::Tensor tokens_per_expert) {
  const at::Tensor logits = at::linear(x, router);
  router_logits.push_back(logits);
  const Routing routing = route(logits, top_k, norm_topk_prob);
  at::Tensor out = at::zeros_like(x);
  for (std::int64_t e = 0; e < static_cast<std::int64_t>(experts.size()); ++e) {
    const at::Tensor hit = routing.selected.eq(e);  // [T, K]; an expert appears at most once per token
    const at::Tensor rows = hit.any(-1).nonzero().squeeze(-1);
    if (tokens_per_expert.defined()) tokens_per_expert[e] += rows.numel();
    if (rows.numel() == 0) continue;
    const at::Tensor weight = (routing.weights * hit).sum(-1).index_select(0, rows).unsqueeze(-1);
    const at::Tensor xe = x.index_select(0, rows);
    const ExpertWeights& w = experts[static_cast<std::size_t>(e)];
    const at::Tensor y =
        at::linear(at::silu(at::linear(xe, w.gate_proj)) * at::linear(xe, w.up_proj), w.down_proj);
    out = out.index_add(0, rows, y * weight.to(y.scalar_type()));
  }
  return out;
}

at::Tensor load_balancing_loss(const std::vector<at::Tensor>& router_logits, std::int64_t num_experts,
                               std::int64_t top_k) {
  const at::Tensor probs = at::softmax(at::cat(router_logits, 0), -1, at::kFloat);  // [T·L, E]
  const at::Tensor selected = std::get<1>(at::topk(probs, top_k, -1));
  const at::Tensor fraction = at::one_hot(selected, num_experts).to(at::kFloat).mean(0);  // [K, E]
  return (fraction * probs.mean(0).unsqueeze(0)).sum() * static_cast<double>(num_experts);
}

}  // namespace modelslim::tools
