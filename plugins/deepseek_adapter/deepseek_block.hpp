// One DeepSeek decoder layer: RMSNorm → multi-head latent attention → residual, RMSNorm → SwiGLU MLP (dense
// layers) or DeepSeek-MoE (router, routed experts, shared experts) → residual. Every matmul, the router
// included, is a modelslim::Linear named as in the checkpoint.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "deepseek_config.hpp"
#include "deepseek_moe.hpp"
#include "modelslim/attention_quant.hpp"
#include "modelslim/block.hpp"
#include "modelslim/expert_routing.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/linear.hpp"

namespace modelslim::deepseek {

// Per-sample state shared by all blocks: rotary tables and the causal mask.
class DeepseekContext final : public ForwardContext {
 public:
  DeepseekContext(at::Tensor cos, at::Tensor sin, at::Tensor mask)
      : cos(std::move(cos)), sin(std::move(sin)), mask(std::move(mask)) {}
  at::Tensor cos;   // [seq, qk_rope_head_dim / 2], times YaRN's attention factor
  at::Tensor sin;   // [seq, qk_rope_head_dim / 2]
  at::Tensor mask;  // [seq, seq], 0 where attention is allowed, -inf elsewhere
};

at::Tensor causal_mask(std::int64_t seq);
// The fused modules of the decoder layer named `name` (a MoE layer when `moe`): fused_qkv_a_proj when
// q_lora_rank is set, gate/up of the dense MLP, of every routed expert and of the shared experts.
std::vector<FusedModule> deepseek_fused_modules(const DeepseekConfig& config, const std::string& name,
                                                bool moe);
// RMSNorm with an optional additive bias (present after asymmetric outlier suppression shifted it).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& bias = {});

// "model.layers.3.mlp.experts.17": routed expert `expert` of the layer named `block`.
std::string routed_expert_name(const std::string& block, std::int64_t expert);

// Adds routed expert `expert`'s weighted SwiGLU output (gate, up, down) for the tokens routed to it into
// `output` ([tokens, hidden]) and their count to `tokens`; an expert no token chose does not run. With
// `all_experts` every token of `flat` runs through it (for the linears' observers; the output keeps the
// routing).
void add_routed_expert(const Linear& gate, const Linear& up, const Linear& down, std::int64_t expert,
                       const Routing& routing, const at::Tensor& flat, bool all_experts, at::Tensor& output,
                       std::int64_t& tokens);

// Where each linear sits in the block's list (kNone: the layer has none).
struct BlockLayout {
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t q_proj = kNone;  // without q_lora_rank
  std::size_t q_a_proj = kNone;
  std::size_t q_b_proj = kNone;
  std::size_t kv_a_proj = kNone;
  std::size_t kv_b_proj = kNone;
  std::size_t o_proj = kNone;
  std::size_t dense_mlp = kNone;     // gate, up, down at this index and the next two
  std::size_t router = kNone;        // MoE layers: mlp.gate
  std::size_t first_expert = kNone;  // expert e's gate, up, down at first_expert + 3e ..
  std::size_t shared_mlp = kNone;    // shared experts' gate, up, down
};

struct DeepseekNorms {
  at::Tensor input_norm;
  at::Tensor post_attention_norm;
  at::Tensor q_a_norm;  // with q_lora_rank only
  at::Tensor kv_a_norm;
  // Bias slots for asymmetric smoothing (undefined until a processor or the checkpoint sets one).
  at::Tensor input_norm_bias;
  at::Tensor post_attention_norm_bias;
  at::Tensor q_a_norm_bias;
  at::Tensor kv_a_norm_bias;
  at::Tensor correction_bias;  // MoE with noaux_tc: mlp.gate.e_score_correction_bias, float32
};

// Also a FusedModuleSource: q_a_proj + kv_a_proj_with_mqa (`fused_qkv_a_proj`) and the gate/up pairs, as
// vLLM and vllm-ascend load them (deepseek_fused_modules); and an AttentionQuantSource (FA3 on MLA,
// deepseek_fa3.cpp): with any FA3 hook set, attention runs in the absorbed form the reference quantizes
// (q_nope·W_uk against the latent); and, in MoE layers, an ExpertRouting (tokens per routed expert,
// calibration of every expert on every token).
class DeepseekBlock final : public Block,
                            public FusedModuleSource,
                            public AttentionQuantSource,
                            public ExpertRouting {
 public:
  DeepseekBlock(std::string name, const DeepseekConfig& config, std::vector<Linear> linears,
                BlockLayout layout, DeepseekNorms norms);

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override;
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;
  std::vector<NormLinearSubgraph> norm_linear_subgraphs() override;
  std::vector<LinearPairSubgraph> linear_pair_subgraphs() override;
  std::optional<BlockRotationPoints> rotation_points() override;
  std::vector<FusedModule> fused_modules() const override;
  std::vector<AttentionQuantPoint> attention_quant_points() override;

  // Empty unless the block holds routed experts.
  std::vector<RoutedExpert> routed_experts() override;
  void set_calibrate_all_experts(bool on) override { all_experts_ = on; }
  std::vector<std::int64_t> routed_token_counts() const override { return tokens_; }

  // forward() in pieces, for a MoE layer loaded without its routed experts (DeepseekStreamedBlock): the
  // residual after attention, the MLP's input, the router's choice on the flattened input, and the shared
  // experts' output (undefined without them).
  at::Tensor attention_residual(const at::Tensor& x, const DeepseekContext& context);
  at::Tensor mlp_input(const at::Tensor& residual) const;
  Routing route(const at::Tensor& flat);
  at::Tensor shared_experts(const at::Tensor& flat);
  const BlockLayout& layout() const { return layout_; }

 private:
  Linear& at(std::size_t index) { return linears_[index]; }
  at::Tensor attention(const at::Tensor& x, const DeepseekContext& context);
  at::Tensor queries(const at::Tensor& x);
  bool fa3_active() const;
  // softmax(q_rope·k_ropeᵀ + Q·Kᵀ)·K then W_uv per head, with Q = hook(q_nope·W_uk), K = hook(latent).
  at::Tensor attention_absorbed(const at::Tensor& q_nope, const at::Tensor& q_rope, const at::Tensor& latent,
                                const at::Tensor& k_rope, const at::Tensor& mask);
  at::Tensor mlp(std::size_t gate_index, const at::Tensor& x);
  at::Tensor moe(const at::Tensor& x);
  std::vector<Linear*> mlp_readers();  // the linears reading post_attention_layernorm's output
  std::vector<Linear*> mlp_writers();  // the linears writing the MLP's output (every down_proj)

  std::string name_;
  const DeepseekConfig& config_;
  std::vector<Linear> linears_;
  BlockLayout layout_;
  DeepseekNorms norms_;
  AttentionQuantSlots attention_quant_;
  bool all_experts_ = false;
  std::vector<std::int64_t> tokens_;  // per routed expert, summed over forwards (empty without experts)
};

}  // namespace modelslim::deepseek
