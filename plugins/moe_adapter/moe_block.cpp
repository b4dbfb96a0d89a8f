#include "moe_block.hpp"

#include <ATen/ATen.h>

namespace modelslim::moe {
namespace {
enum AttentionIndex { kAttnQ, kAttnK, kAttnV, kAttnO };
}

MoeBlock::MoeBlock(std::string name, const MoeConfig& config, std::int64_t layer, std::vector<Linear> linears,
                   MoeBlockNorms norms)
    : HookedKvCacheAccess(name + ".self_attn", config.num_kv_heads, config.head_dim),
      name_(std::move(name)),
      config_(config),
      layout_(mlp_layout(config, layer)),
      linears_(std::move(linears)),
      norms_(std::move(norms)) {
  statistics_.tokens_per_expert.assign(static_cast<std::size_t>(layout_.experts), 0);
}

std::vector<Linear*> MoeBlock::linears() {
  std::vector<Linear*> result;
  for (Linear& linear : linears_) result.push_back(&linear);
  return result;
}

std::vector<NamedTensor> norm_parameters(const std::string& block, const MoeBlockNorms& norms) {
  std::vector<NamedTensor> result = {{block + ".input_layernorm.weight", norms.input_norm},
                                     {block + ".post_attention_layernorm.weight", norms.post_attention_norm}};
  if (norms.input_norm_bias.defined())
    result.push_back({block + ".input_layernorm.bias", norms.input_norm_bias});
  if (norms.post_attention_norm_bias.defined()) {
    result.push_back({block + ".post_attention_layernorm.bias", norms.post_attention_norm_bias});
  }
  if (norms.q_norm.defined()) {
    result.push_back({block + ".self_attn.q_norm.weight", norms.q_norm});
    result.push_back({block + ".self_attn.k_norm.weight", norms.k_norm});
  }
  return result;
}

std::vector<NamedTensor> MoeBlock::other_parameters() const {
  return norm_parameters(name_, norms_);
}

at::Tensor MoeBlock::forward(const at::Tensor& hidden, const ForwardContext& context) {
  const auto& moe_context = dynamic_cast<const MoeContext&>(context);
  const at::Tensor x = hidden.to(at::kFloat);
  const AttentionWeights attention_weights{&linears_[kAttnQ], &linears_[kAttnK], &linears_[kAttnV],
                                           &linears_[kAttnO], norms_.q_norm,     norms_.k_norm,
                                           &kv_cache_hook(),  &attention_quant_};
  const at::Tensor h =
      x + attention(config_, attention_weights,
                    rms_norm(x, norms_.input_norm, config_.rms_norm_eps, norms_.input_norm_bias),
                    moe_context);
  const at::Tensor n =
      rms_norm(h, norms_.post_attention_norm, config_.rms_norm_eps, norms_.post_attention_norm_bias);
  return h + (layout_.sparse ? sparse_mlp(config_, linears_, layout_, n, statistics_)
                             : dense_mlp(linears_, layout_, n));
}

// Every linear reading the post-attention norm's output: router, experts' and shared expert's gate/up, and
// the shared expert's gate.
std::vector<Linear*> MoeBlock::mlp_readers() {
  if (!layout_.sparse) return {&linears_[layout_.first], &linears_[layout_.first + 1]};
  std::vector<Linear*> readers = {&linears_[layout_.router()]};
  const std::int64_t parts = layout_.experts + (layout_.shared ? 1 : 0);
  for (std::int64_t e = 0; e < parts; ++e) {
    readers.push_back(&linears_[layout_.gate(e)]);
    readers.push_back(&linears_[layout_.up(e)]);
  }
  if (layout_.shared) readers.push_back(&linears_[layout_.shared_expert_gate()]);
  return readers;
}

std::vector<Linear*> MoeBlock::mlp_writers() {
  if (!layout_.sparse) return {&linears_[layout_.first + 2]};
  std::vector<Linear*> writers;
  const std::int64_t parts = layout_.experts + (layout_.shared ? 1 : 0);
  for (std::int64_t e = 0; e < parts; ++e) writers.push_back(&linears_[layout_.down(e)]);
  return writers;
}

std::vector<NormLinearSubgraph> MoeBlock::norm_linear_subgraphs() {
  return {{name_ + ".input_layernorm.weight",
           norms_.input_norm,
           {&linears_[kAttnQ], &linears_[kAttnK], &linears_[kAttnV]},
           &norms_.input_norm_bias},
          {name_ + ".post_attention_layernorm.weight", norms_.post_attention_norm, mlp_readers(),
           &norms_.post_attention_norm_bias}};
}

std::vector<LinearPairSubgraph> MoeBlock::linear_pair_subgraphs() {
  LinearPairSubgraph ov{LinearPairKind::kOV, &linears_[kAttnV], &linears_[kAttnO]};
  ov.num_heads = config_.num_heads;
  ov.num_kv_heads = config_.num_kv_heads;
  ov.head_dim = config_.head_dim;
  std::vector<LinearPairSubgraph> pairs = {ov};
  if (!layout_.sparse) {
    pairs.push_back({LinearPairKind::kUpDown, &linears_[layout_.first + 1], &linears_[layout_.first + 2]});
    return pairs;
  }
  const std::int64_t parts = layout_.experts + (layout_.shared ? 1 : 0);
  for (std::int64_t e = 0; e < parts; ++e) {
    pairs.push_back({LinearPairKind::kUpDown, &linears_[layout_.up(e)], &linears_[layout_.down(e)]});
  }
  return pairs;
}

std::optional<BlockRotationPoints> MoeBlock::rotation_points() {
  BlockRotationPoints points;
  points.norms = norm_linear_subgraphs();
  points.readers = {&linears_[kAttnQ], &linears_[kAttnK], &linears_[kAttnV]};
  for (Linear* reader : mlp_readers()) points.readers.push_back(reader);  // the router is rotated too
  points.writers = {&linears_[kAttnO]};
  for (Linear* writer : mlp_writers()) points.writers.push_back(writer);
  points.value = &linears_[kAttnV];
  points.attention_output = &linears_[kAttnO];
  points.num_heads = config_.num_heads;
  points.num_kv_heads = config_.num_kv_heads;
  points.head_dim = config_.head_dim;
  return points;
}

std::vector<FusedModule> MoeBlock::fused_modules() const {
  const std::string attention = name_ + ".self_attn.";
  std::vector<FusedModule> modules = {
      {attention + "qkv_proj", {attention + "q_proj", attention + "k_proj", attention + "v_proj"}}};
  const auto gate_up = [&](std::size_t gate) {
    const std::string& gate_name = linears_[gate].name();
    const std::string prefix = gate_name.substr(0, gate_name.rfind('.') + 1);
    modules.push_back({prefix + "gate_up_proj", {gate_name, linears_[gate + 1].name()}});
  };
  if (!layout_.sparse) {
    gate_up(layout_.first);
    return modules;
  }
  const std::int64_t parts = layout_.experts + (layout_.shared ? 1 : 0);
  for (std::int64_t e = 0; e < parts; ++e) gate_up(layout_.gate(e));
  return modules;
}

std::vector<RoutedExpert> MoeBlock::routed_experts() {
  std::vector<RoutedExpert> experts;
  for (std::int64_t e = 0; e < layout_.experts; ++e) {
    experts.push_back({expert_name(config_, name_, e),
                       {&linears_[layout_.gate(e)], &linears_[layout_.up(e)], &linears_[layout_.down(e)]}});
  }
  return experts;
}

std::vector<std::int64_t> MoeBlock::routed_token_counts() const {
  return statistics_.tokens_per_expert;
}

}  // namespace modelslim::moe

namespace modelslim::moe {

// The reference's DeepSeek ratios (it has no FA3 adapter for these families): Q and K keep 99.99 %.
std::vector<AttentionQuantPoint> MoeBlock::attention_quant_points() {
  AttentionQuantPoint point;
  point.module = name_ + ".self_attn";
  point.slots = &attention_quant_;
  point.heads = {config_.num_heads, config_.num_kv_heads, config_.num_kv_heads};
  point.recall_ratio = {0.9999, 0.9999, 1.0};
  return {point};
}

}  // namespace modelslim::moe
