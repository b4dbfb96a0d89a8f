#include "moe_attention.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace modelslim::moe {
namespace {

at::Tensor rotate_half(const at::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

at::Tensor apply_rope(const at::Tensor& x, const MoeContext& context) {
  return x * context.cos + rotate_half(x) * context.sin;
}

}  // namespace

std::shared_ptr<MoeContext> make_context(const MoeConfig& config, std::int64_t seq) {
  const std::int64_t dim = config.head_dim;
  const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  const at::Tensor inv_freq = 1.0 / at::pow(config.rope_theta, exponents);
  const at::Tensor positions = at::arange(seq, at::kLong).to(at::kFloat);
  const at::Tensor freqs = at::outer(positions, inv_freq);
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  const at::Tensor rows = at::arange(seq, at::kLong).unsqueeze(1);
  const at::Tensor cols = at::arange(seq, at::kLong).unsqueeze(0);
  at::Tensor blocked = cols > rows;
  if (config.sliding_window > 0) blocked = blocked.logical_or(rows - cols >= config.sliding_window);
  at::Tensor mask =
      at::zeros({seq, seq}, at::kFloat).masked_fill(blocked, -std::numeric_limits<float>::infinity());
  return std::make_shared<MoeContext>(emb.cos(), emb.sin(), std::move(mask));
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& bias) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = weight * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps));
  return bias.defined() ? normed + bias : normed;
}

at::Tensor attention(const MoeConfig& config, const AttentionWeights& weights, const at::Tensor& x,
                     const MoeContext& context) {
  const std::int64_t batch = x.size(0);
  const std::int64_t seq = x.size(1);
  const std::int64_t heads = config.num_heads;
  const std::int64_t kv_heads = config.num_kv_heads;
  const std::int64_t dim = config.head_dim;
  at::Tensor q = weights.q->forward(x).view({batch, seq, heads, dim});
  at::Tensor k = weights.k->forward(x).view({batch, seq, kv_heads, dim});
  at::Tensor v = weights.v->forward(x).view({batch, seq, kv_heads, dim}).transpose(1, 2);
  if (config.qk_norm) {
    q = rms_norm(q, weights.q_norm, config.rms_norm_eps);
    k = rms_norm(k, weights.k_norm, config.rms_norm_eps);
  }
  q = apply_rope(q.transpose(1, 2), context);
  k = apply_rope(k.transpose(1, 2), context);
  if (weights.kv_cache != nullptr) weights.kv_cache->pass(k, v);
  if (weights.fa3 != nullptr) {
    q = weights.fa3->apply(AttentionInput::kQuery, q);
    k = weights.fa3->apply(AttentionInput::kKey, k);
    v = weights.fa3->apply(AttentionInput::kValue, v);
  }
  if (kv_heads != heads) {  // grouped-query attention: each kv head serves heads / kv_heads query heads
    k = k.repeat_interleave(heads / kv_heads, 1);
    v = v.repeat_interleave(heads / kv_heads, 1);
  }
  const at::Tensor scores =
      at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(dim)) + context.mask;
  const at::Tensor output = at::matmul(at::softmax(scores, -1), v);
  return weights.o->forward(output.transpose(1, 2).reshape({batch, seq, heads * dim}));
}

}  // namespace modelslim::moe
