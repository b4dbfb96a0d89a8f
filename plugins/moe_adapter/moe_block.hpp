// One MoE-family decoder layer: RMSNorm → attention → residual, RMSNorm → dense MLP or sparse expert block →
// residual. Experts, the router (`mlp.gate` / `block_sparse_moe.gate`), the shared expert and its gate are
// ordinary linears named as in the checkpoint, so every processor sees them.
#pragma once

#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/expert_routing.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/hooked_kv_cache_access.hpp"
#include "moe_attention.hpp"
#include "moe_config.hpp"
#include "moe_mlp.hpp"

namespace modelslim::moe {

struct MoeBlockNorms {
  at::Tensor input_norm;
  at::Tensor post_attention_norm;
  at::Tensor input_norm_bias;  // undefined unless a processor or the checkpoint added one
  at::Tensor post_attention_norm_bias;
  at::Tensor q_norm;  // Qwen3-MoE only
  at::Tensor k_norm;
};

// The block's parameters besides its linears, as Block::other_parameters lists them.
std::vector<NamedTensor> norm_parameters(const std::string& block, const MoeBlockNorms& norms);

// Also a FusedModuleSource (q/k/v, and gate/up of each expert and of a dense or shared MLP) and an
// ExpertRouting (calibration coverage of experts), a KvCacheAccess (int8 KV cache, HookedKvCacheAccess) and
// an AttentionQuantSource (FA3): Q/K after RoPE, V, per kv head before the GQA repeat.
class MoeBlock final : public Block,
                       public FusedModuleSource,
                       public ExpertRouting,
                       public HookedKvCacheAccess,
                       public AttentionQuantSource {
 public:
  // `linears`: q, k, v, o, then the MLP's in MlpLayout order.
  MoeBlock(std::string name, const MoeConfig& config, std::int64_t layer, std::vector<Linear> linears,
           MoeBlockNorms norms);

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override;
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;
  std::vector<NormLinearSubgraph> norm_linear_subgraphs() override;
  std::vector<LinearPairSubgraph> linear_pair_subgraphs() override;
  std::optional<BlockRotationPoints> rotation_points() override;
  std::vector<FusedModule> fused_modules() const override;

  std::vector<RoutedExpert> routed_experts() override;
  void set_calibrate_all_experts(bool on) override { statistics_.all_experts = on; }
  std::vector<std::int64_t> routed_token_counts() const override;
  std::vector<AttentionQuantPoint> attention_quant_points() override;

 private:
  std::vector<Linear*> mlp_readers();
  std::vector<Linear*> mlp_writers();

  std::string name_;
  const MoeConfig& config_;
  MlpLayout layout_;
  std::vector<Linear> linears_;
  MoeBlockNorms norms_;
  RoutingStatistics statistics_;
  AttentionQuantSlots attention_quant_;
};

}  // namespace modelslim::moe
