#include "llama_block.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "rope.hpp"

namespace modelslim::llama {
namespace {
enum LinearIndex { kQ, kK, kV, kO, kGate, kUp, kDown };
}

at::Tensor causal_mask(const LlamaConfig& config, std::int64_t query_start, std::int64_t queries,
                       std::int64_t key_start, std::int64_t keys) {
  const at::Tensor rows = at::arange(query_start, query_start + queries, at::kLong).unsqueeze(1);
  const at::Tensor cols = at::arange(key_start, key_start + keys, at::kLong).unsqueeze(0);
  at::Tensor blocked = cols > rows;
  if (config.sliding_window > 0) blocked = blocked.logical_or(rows - cols >= config.sliding_window);
  return at::zeros({queries, keys}, at::kFloat).masked_fill(blocked, -std::numeric_limits<float>::infinity());
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& bias) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = weight * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps));
  return bias.defined() ? normed + bias : normed;
}

LlamaBlock::LlamaBlock(std::string name, const LlamaConfig& config, std::vector<Linear> linears,
                       LlamaBlockWeights norms)
    : HookedKvCacheAccess(name + ".self_attn", config.num_kv_heads, config.head_dim),
      name_(std::move(name)),
      config_(config),
      linears_(std::move(linears)),
      norms_(std::move(norms)) {}

std::vector<FusedModule> llama_fused_modules(const std::string& block_name) {
  const std::string attention = block_name + ".self_attn.";
  const std::string mlp = block_name + ".mlp.";
  return {{attention + "qkv_proj", {attention + "q_proj", attention + "k_proj", attention + "v_proj"}},
          {mlp + "gate_up_proj", {mlp + "gate_proj", mlp + "up_proj"}}};
}

std::vector<FusedModule> LlamaBlock::fused_modules() const {
  return llama_fused_modules(name_);
}

std::vector<Linear*> LlamaBlock::linears() {
  std::vector<Linear*> result;
  for (Linear& linear : linears_) result.push_back(&linear);
  return result;
}

std::vector<NamedTensor> LlamaBlock::other_parameters() const {
  std::vector<NamedTensor> result = {
      {name_ + ".input_layernorm.weight", norms_.input_norm},
      {name_ + ".post_attention_layernorm.weight", norms_.post_attention_norm}};
  if (norms_.input_norm_bias.defined()) {
    result.push_back({name_ + ".input_layernorm.bias", norms_.input_norm_bias});
  }
  if (norms_.post_attention_norm_bias.defined()) {
    result.push_back({name_ + ".post_attention_layernorm.bias", norms_.post_attention_norm_bias});
  }
  if (norms_.q_norm.defined()) {
    result.push_back({name_ + ".self_attn.q_norm.weight", norms_.q_norm});
    result.push_back({name_ + ".self_attn.k_norm.weight", norms_.k_norm});
  }
  return result;
}

std::vector<NormLinearSubgraph> LlamaBlock::norm_linear_subgraphs() {
  return {{name_ + ".input_layernorm.weight",
           norms_.input_norm,
           {&linears_[kQ], &linears_[kK], &linears_[kV]},
           &norms_.input_norm_bias},
          {name_ + ".post_attention_layernorm.weight",
           norms_.post_attention_norm,
           {&linears_[kGate], &linears_[kUp]},
           &norms_.post_attention_norm_bias}};
}

std::vector<LinearPairSubgraph> LlamaBlock::linear_pair_subgraphs() {
  LinearPairSubgraph ov{LinearPairKind::kOV, &linears_[kV], &linears_[kO]};
  ov.num_heads = config_.num_heads;
  ov.num_kv_heads = config_.num_kv_heads;
  ov.head_dim = config_.head_dim;
  return {ov, {LinearPairKind::kUpDown, &linears_[kUp], &linears_[kDown]}};
}

std::optional<BlockRotationPoints> LlamaBlock::rotation_points() {
  BlockRotationPoints points;
  points.norms = norm_linear_subgraphs();
  points.readers = {&linears_[kQ], &linears_[kK], &linears_[kV], &linears_[kGate], &linears_[kUp]};
  points.writers = {&linears_[kO], &linears_[kDown]};
  points.value = &linears_[kV];
  points.attention_output = &linears_[kO];
  points.num_heads = config_.num_heads;
  points.num_kv_heads = config_.num_kv_heads;
  points.head_dim = config_.head_dim;
  return points;
}

LlamaBlock::Projected LlamaBlock::project(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t batch = x.size(0);
  const std::int64_t seq = x.size(1);
  const std::int64_t dim = config_.head_dim;
  at::Tensor q = linears_[kQ].forward(x).view({batch, seq, config_.num_heads, dim});
  at::Tensor k = linears_[kK].forward(x).view({batch, seq, config_.num_kv_heads, dim});
  const at::Tensor v = linears_[kV].forward(x).view({batch, seq, config_.num_kv_heads, dim});
  if (config_.qk_norm) {
    q = rms_norm(q, norms_.q_norm, config_.rms_norm_eps);
    k = rms_norm(k, norms_.k_norm, config_.rms_norm_eps);
  }
  Projected p{apply_rope(q.transpose(1, 2), cos, sin), apply_rope(k.transpose(1, 2), cos, sin),
              v.transpose(1, 2)};
  kv_cache_hook().pass(p.k, p.v);                    // what the cache stores (int8 round trip when C8)
  const AttentionQuantSlots& fa = attention_quant_;  // FA3: what attention reads from the cache
  return {fa.apply(AttentionInput::kQuery, p.q), fa.apply(AttentionInput::kKey, p.k),
          fa.apply(AttentionInput::kValue, p.v)};
}

// The reference's DeepSeek ratios (no llama FA3 adapter there): Q and K keep 99.99 % of each head's values.
std::vector<AttentionQuantPoint> LlamaBlock::attention_quant_points() {
  AttentionQuantPoint point;
  point.module = name_ + ".self_attn";
  point.slots = &attention_quant_;
  point.heads = {config_.num_heads, config_.num_kv_heads, config_.num_kv_heads};
  point.recall_ratio = {0.9999, 0.9999, 1.0};
  return {point};
}

at::Tensor LlamaBlock::attend(const at::Tensor& q, at::Tensor k, at::Tensor v, const at::Tensor& mask) {
  const std::int64_t batch = q.size(0);
  const std::int64_t seq = q.size(2);
  const std::int64_t heads = config_.num_heads;
  const std::int64_t kv_heads = config_.num_kv_heads;
  const std::int64_t dim = config_.head_dim;
  if (kv_heads != heads) {  // grouped-query attention: each kv head serves heads / kv_heads query heads
    k = k.repeat_interleave(heads / kv_heads, 1);
    v = v.repeat_interleave(heads / kv_heads, 1);
  }
  at::Tensor scores = at::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(dim));
  if (mask.defined()) scores = scores + mask;
  const at::Tensor output = at::matmul(at::softmax(scores, -1), v);
  return linears_[kO].forward(output.transpose(1, 2).reshape({batch, seq, heads * dim}));
}

at::Tensor LlamaBlock::attention(const at::Tensor& x, const LlamaContext& context) {
  const Projected p = project(x, context.cos, context.sin);
  return attend(p.q, p.k, p.v, context.mask);
}

void KeyValueCache::append(const at::Tensor& k, const at::Tensor& v) {
  const std::int64_t n = k.size(2);
  const std::int64_t capacity = keys.defined() ? keys.size(2) : 0;
  if (length + n > capacity) {
    const std::int64_t grown = std::max({2 * capacity, length + n, std::int64_t{16}});
    const auto grow = [&](const at::Tensor& old, const at::Tensor& like) {
      at::Tensor bigger = at::empty({like.size(0), like.size(1), grown, like.size(3)}, like.options());
      if (length > 0) bigger.narrow(2, 0, length).copy_(old.narrow(2, 0, length));
      return bigger;
    };
    keys = grow(keys, k);
    values = grow(values, v);
  }
  keys.narrow(2, length, n).copy_(k);
  values.narrow(2, length, n).copy_(v);
  length += n;
}

at::Tensor LlamaBlock::attention_cached(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                        KeyValueCache& cache) {
  const Projected p = project(x, cos, sin);
  const std::int64_t start = cache.length;  // position of the first new token
  const std::int64_t n = x.size(1);
  cache.append(p.k, p.v);
  if (start == 0) {  // prefill: exactly the full forward's arithmetic
    return attend(p.q, p.k, p.v, causal_mask(config_, 0, n, 0, n));
  }
  // Only the last sliding_window positions are visible to the newest token.
  const std::int64_t window = config_.sliding_window;
  const std::int64_t first = window > 0 ? std::max<std::int64_t>(0, start - window + 1) : 0;
  const std::int64_t keys = cache.length - first;
  const at::Tensor mask = n == 1 ? at::Tensor() : causal_mask(config_, start, n, first, keys);
  return attend(p.q, cache.keys.narrow(2, first, keys), cache.values.narrow(2, first, keys), mask);
}

at::Tensor LlamaBlock::mlp_residual(const at::Tensor& h) {
  const at::Tensor n =
      rms_norm(h, norms_.post_attention_norm, config_.rms_norm_eps, norms_.post_attention_norm_bias);
  return h + linears_[kDown].forward(at::silu(linears_[kGate].forward(n)) * linears_[kUp].forward(n));
}

at::Tensor LlamaBlock::forward(const at::Tensor& hidden, const ForwardContext& context) {
  const auto& llama_context = dynamic_cast<const LlamaContext&>(context);
  const at::Tensor x = hidden.to(at::kFloat);
  return mlp_residual(
      x +
      attention(rms_norm(x, norms_.input_norm, config_.rms_norm_eps, norms_.input_norm_bias), llama_context));
}

at::Tensor LlamaBlock::forward_cached(const at::Tensor& hidden, const at::Tensor& cos, const at::Tensor& sin,
                                      KeyValueCache& cache) {
  const at::Tensor x = hidden.to(at::kFloat);
  return mlp_residual(
      x + attention_cached(rms_norm(x, norms_.input_norm, config_.rms_norm_eps, norms_.input_norm_bias), cos,
                           sin, cache));
}

}  // namespace modelslim::llama
