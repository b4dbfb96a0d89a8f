// One Llama-family decoder layer: RMSNorm → attention (GQA, RoPE, optional q/k bias and q/k norm) → residual,
// RMSNorm → SwiGLU MLP → residual. Every matmul goes through modelslim::Linear so processors can observe and
// replace it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "llama_config.hpp"
#include "modelslim/block.hpp"
#include "modelslim/fused_module_source.hpp"

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

// RMSNorm with an optional additive bias (present after asymmetric outlier suppression shifted it).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& bias = {});

struct LlamaBlockWeights {
  at::Tensor input_norm;
  at::Tensor post_attention_norm;
  at::Tensor input_norm_bias;  // undefined unless a processor or the checkpoint added one
  at::Tensor post_attention_norm_bias;
  at::Tensor q_norm;  // Qwen3 only
  at::Tensor k_norm;
};

// Also a FusedModuleSource: q/k/v and gate/up, as vLLM's Llama-family packed_modules_mapping fuses them.
class LlamaBlock final : public Block, public FusedModuleSource {
 public:
  // `linears` in the order q, k, v, o, gate, up, down.
  LlamaBlock(std::string name, const LlamaConfig& config, std::vector<Linear> linears,
             LlamaBlockWeights norms);

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override;
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;
  std::vector<NormLinearSubgraph> norm_linear_subgraphs() override;
  std::vector<LinearPairSubgraph> linear_pair_subgraphs() override;
  std::optional<BlockRotationPoints> rotation_points() override;
  std::vector<FusedModule> fused_modules() const override;

 private:
  at::Tensor attention(const at::Tensor& x, const LlamaContext& context);

  std::string name_;
  const LlamaConfig& config_;
  std::vector<Linear> linears_;
  LlamaBlockWeights norms_;
};

}  // namespace modelslim::llama
