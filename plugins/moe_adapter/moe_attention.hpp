// The attention half of an MoE decoder layer (the same in Qwen3-MoE, Qwen2-MoE and Mixtral): RMSNorm'd input
// → q/k/v (optional biases, Qwen3-MoE's per-head q/k RMSNorm) → RoPE (rotate_half convention) → causal
// (optionally sliding-window) grouped-query attention → o_proj.
#pragma once

#include <ATen/core/Tensor.h>

#include "modelslim/attention_quant.hpp"
#include "modelslim/block.hpp"
#include "modelslim/kv_cache_quant.hpp"
#include "modelslim/linear.hpp"
#include "moe_config.hpp"

namespace modelslim::moe {

// Per-sample state shared by all blocks: rotary tables and the causal mask.
class MoeContext final : public ForwardContext {
 public:
  MoeContext(at::Tensor cos, at::Tensor sin, at::Tensor mask)
      : cos(std::move(cos)), sin(std::move(sin)), mask(std::move(mask)) {}
  at::Tensor cos;   // [seq, head_dim]
  at::Tensor sin;   // [seq, head_dim]
  at::Tensor mask;  // [seq, seq], 0 where attention is allowed, -inf elsewhere
};

// The context for a sequence of `seq` tokens at positions 0 .. seq-1.
std::shared_ptr<MoeContext> make_context(const MoeConfig& config, std::int64_t seq);

// RMSNorm (computed in float32) with an optional additive bias (after asymmetric outlier suppression).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& bias = {});

// q, k, v, o are the block's linears; q_norm/k_norm are undefined unless config.qk_norm.
struct AttentionWeights {
  Linear* q = nullptr;
  Linear* k = nullptr;
  Linear* v = nullptr;
  Linear* o = nullptr;
  at::Tensor q_norm;
  at::Tensor k_norm;
  const KvCacheHook* kv_cache = nullptr;  // the keys (after RoPE) and values pass through it (int8 KV cache)
  const AttentionQuantSlots* fa3 = nullptr;  // FA3 hooks on Q, K (after RoPE) and V (before the GQA repeat)
};

// x: the normed input [1, seq, hidden] → o_proj's output [1, seq, hidden].
at::Tensor attention(const MoeConfig& config, const AttentionWeights& weights, const at::Tensor& x,
                     const MoeContext& context);

}  // namespace modelslim::moe
