// One Llama-family decoder layer: RMSNorm → attention (GQA, RoPE, optional q/k bias and q/k norm) → residual,
// RMSNorm → SwiGLU MLP → residual. Every matmul goes through modelslim::Linear so processors can observe and
// replace it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "llama_config.hpp"
#include "modelslim/attention_quant.hpp"
#include "modelslim/block.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/hooked_kv_cache_access.hpp"

namespace modelslim::llama {

// Per-sample state shared by all blocks: rotary tables and the causal mask.
class LlamaContext final : public ForwardContext {
 public:
  LlamaContext(at::Tensor cos, at::Tensor sin, at::Tensor mask)
      : cos(std::move(cos)), sin(std::move(sin)), mask(std::move(mask)) {}
  at::Tensor cos;   // [seq, head_dim]
  at::Tensor sin;   // [seq, head_dim]
  at::Tensor mask;  // [seq, seq], 0 where attention is allowed, -inf elsewhere
};

// The fused modules of decoder layer `block_name` ("model.layers.3"): its qkv_proj and gate_up_proj.
std::vector<FusedModule> llama_fused_modules(const std::string& block_name);
// 0 where query position (query_start + i) may attend key position (key_start + j), -inf elsewhere
// (later keys, and keys sliding_window or more positions back): float32 [queries, keys].
at::Tensor causal_mask(const LlamaConfig& config, std::int64_t query_start, std::int64_t queries,
                       std::int64_t key_start, std::int64_t keys);

// RMSNorm with an optional additive bias (present after asymmetric outlier suppression shifted it).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& bias = {});

// One block's keys (after RoPE) and values for the tokens decoded so far, grown by doubling.
struct KeyValueCache {
  at::Tensor keys;    // [1, kv_heads, capacity, head_dim]
  at::Tensor values;  // [1, kv_heads, capacity, head_dim]
  std::int64_t length = 0;
  void append(const at::Tensor& k, const at::Tensor& v);  // [1, kv_heads, n, head_dim]
};

struct LlamaBlockWeights {
  at::Tensor input_norm;
  at::Tensor post_attention_norm;
  at::Tensor input_norm_bias;  // undefined unless a processor or the checkpoint added one
  at::Tensor post_attention_norm_bias;
  at::Tensor q_norm;  // Qwen3 only
  at::Tensor k_norm;
};

// Also a FusedModuleSource: q/k/v and gate/up, as vLLM's Llama-family packed_modules_mapping fuses them;
// a KvCacheAccess (HookedKvCacheAccess): the keys (after q/k norm and RoPE) and values its cache stores (int8
// KV cache); and an AttentionQuantSource: Q and K after RoPE, V, per head, before GQA repeats K and V (FA3).
class LlamaBlock final : public Block,
                         public FusedModuleSource,
                         public HookedKvCacheAccess,
                         public AttentionQuantSource {
 public:
  // `linears` in the order q, k, v, o, gate, up, down.
  LlamaBlock(std::string name, const LlamaConfig& config, std::vector<Linear> linears,
             LlamaBlockWeights norms);

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override;
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;
  // Incremental decoding: `hidden` [1, n, hidden] at positions cache.length .. cache.length + n - 1, whose
  // rotary tables are `cos`/`sin` [n, head_dim]; appends this block's keys and values to `cache`.
  at::Tensor forward_cached(const at::Tensor& hidden, const at::Tensor& cos, const at::Tensor& sin,
                            KeyValueCache& cache);
  std::vector<NormLinearSubgraph> norm_linear_subgraphs() override;
  std::vector<LinearPairSubgraph> linear_pair_subgraphs() override;
  std::optional<BlockRotationPoints> rotation_points() override;
  std::vector<FusedModule> fused_modules() const override;
  std::vector<AttentionQuantPoint> attention_quant_points() override;

 private:
  at::Tensor attention(const at::Tensor& x, const LlamaContext& context);
  at::Tensor attention_cached(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              KeyValueCache& cache);
  // q [batch, heads, seq, dim] and k, v [batch, kv_heads, seq, dim] after RoPE.
  struct Projected {
    at::Tensor q, k, v;
  };
  Projected project(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
  // softmax(q·kᵀ/√d + mask)·v through o_proj; mask undefined = every key visible.
  at::Tensor attend(const at::Tensor& q, at::Tensor k, at::Tensor v, const at::Tensor& mask);
  at::Tensor mlp_residual(const at::Tensor& h);

  std::string name_;
  const LlamaConfig& config_;
  std::vector<Linear> linears_;
  LlamaBlockWeights norms_;
  AttentionQuantSlots attention_quant_;
};

}  // namespace modelslim::llama
