// The Hugging Face Qwen3-MoE sparse MLP block for training (autograd-friendly): routing exactly as
// transformers computes it, each expert evaluated only on the tokens routed to it, and the Switch-style
// load-balancing loss transformers adds with router_aux_loss_coef.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace modelslim::tools {

struct ExpertWeights {
  at::Tensor gate_proj, up_proj, down_proj;  // [I, H], [I, H], [H, I]
};

struct Routing {
  at::Tensor weights;   // [T, K] routing weights (float32), renormalised when norm_topk_prob
  at::Tensor selected;  // [T, K] expert indices, ordered as torch.topk returns them
};

// softmax(router_logits) in float32 over all experts → top-k → optional renormalisation.
Routing route(const at::Tensor& router_logits, std::int64_t top_k, bool norm_topk_prob);

// x [T, H] → Σ_k weight_k · expert_k(x), expert(x) = down(silu(gate(x)) · up(x)). Appends the router logits
// [T, E] to `router_logits` (for the auxiliary loss) and adds each expert's token count to
// `tokens_per_expert` when that is defined ([E], int64).
at::Tensor sparse_moe_block(const at::Tensor& x, const at::Tensor& router,
                            const std::vector<ExpertWeights>& experts, std::int64_t top_k,
                            bool norm_topk_prob, std::vector<at::Tensor>& router_logits,
                            at::Tensor tokens_per_expert = {});

// transformers' load_balancing_loss_func over all layers' router logits: E · Σ_{k,e} f_{k,e} · P_e, where f
// is the fraction of tokens whose k-th choice is e and P_e the mean router probability of e (1.0 when
// balanced).
at::Tensor load_balancing_loss(const std::vector<at::Tensor>& router_logits, std::int64_t num_experts,
                               std::int64_t top_k);

}  // namespace modelslim::tools
