#include "deepseek_block.hpp"

#include <ATen/ATen.h>

#include <limits>

#include "deepseek_moe.hpp"
#include "deepseek_rope.hpp"

namespace modelslim::deepseek {

at::Tensor causal_mask(std::int64_t seq) {
  const at::Tensor rows = at::arange(seq, at::kLong).unsqueeze(1);
  const at::Tensor cols = at::arange(seq, at::kLong).unsqueeze(0);
  return at::zeros({seq, seq}, at::kFloat).masked_fill(cols > rows, -std::numeric_limits<float>::infinity());
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps, const at::Tensor& bias) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor normed = weight * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps));
  return bias.defined() ? normed + bias : normed;
}

DeepseekBlock::DeepseekBlock(std::string name, const DeepseekConfig& config, std::vector<Linear> linears,
                             BlockLayout layout, DeepseekNorms norms)
    : name_(std::move(name)),
      config_(config),
      linears_(std::move(linears)),
      layout_(layout),
      norms_(std::move(norms)) {
  if (layout_.first_expert != BlockLayout::kNone)
    tokens_.assign(static_cast<std::size_t>(config_.n_routed_experts), 0);
}

std::string routed_expert_name(const std::string& block, std::int64_t expert) {
  return block + ".mlp.experts." + std::to_string(expert);
}

std::vector<RoutedExpert> DeepseekBlock::routed_experts() {
  std::vector<RoutedExpert> experts;
  if (layout_.first_expert == BlockLayout::kNone) return experts;
  for (std::int64_t e = 0; e < config_.n_routed_experts; ++e) {
    const std::size_t gate = layout_.first_expert + 3 * static_cast<std::size_t>(e);
    experts.push_back({routed_expert_name(name_, e), {&at(gate), &at(gate + 1), &at(gate + 2)}});
  }
  return experts;
}

std::vector<Linear*> DeepseekBlock::linears() {
  std::vector<Linear*> result;
  for (Linear& linear : linears_) result.push_back(&linear);
  return result;
}

std::vector<NamedTensor> DeepseekBlock::other_parameters() const {
  const std::string attn = name_ + ".self_attn.";
  std::vector<NamedTensor> result = {{name_ + ".input_layernorm.weight", norms_.input_norm},
                                     {name_ + ".post_attention_layernorm.weight", norms_.post_attention_norm},
                                     {attn + "kv_a_layernorm.weight", norms_.kv_a_norm}};
  if (norms_.q_a_norm.defined()) result.push_back({attn + "q_a_layernorm.weight", norms_.q_a_norm});
  const std::pair<const char*, const at::Tensor*> biases[] = {
      {".input_layernorm.bias", &norms_.input_norm_bias},
      {".post_attention_layernorm.bias", &norms_.post_attention_norm_bias},
      {".self_attn.q_a_layernorm.bias", &norms_.q_a_norm_bias},
      {".self_attn.kv_a_layernorm.bias", &norms_.kv_a_norm_bias}};
  for (const auto& [suffix, tensor] : biases) {
    if (tensor->defined()) result.push_back({name_ + suffix, *tensor});
  }
  if (norms_.correction_bias.defined()) {
    result.push_back({name_ + ".mlp.gate.e_score_correction_bias", norms_.correction_bias});
  }
  return result;
}

std::vector<Linear*> DeepseekBlock::mlp_readers() {
  if (layout_.dense_mlp != BlockLayout::kNone) return {&at(layout_.dense_mlp), &at(layout_.dense_mlp + 1)};
  std::vector<Linear*> readers = {&at(layout_.router)};
  for (std::int64_t e = 0; layout_.first_expert != BlockLayout::kNone && e < config_.n_routed_experts; ++e) {
    const std::size_t gate = layout_.first_expert + 3 * static_cast<std::size_t>(e);
    readers.push_back(&at(gate));
    readers.push_back(&at(gate + 1));
  }
  if (layout_.shared_mlp != BlockLayout::kNone) {
    readers.push_back(&at(layout_.shared_mlp));
    readers.push_back(&at(layout_.shared_mlp + 1));
  }
  return readers;
}

std::vector<NormLinearSubgraph> DeepseekBlock::norm_linear_subgraphs() {
  const std::string attn = name_ + ".self_attn.";
  const bool lora = layout_.q_a_proj != BlockLayout::kNone;
  std::vector<NormLinearSubgraph> result;
  result.push_back({name_ + ".input_layernorm.weight",
                    norms_.input_norm,
                    {&at(lora ? layout_.q_a_proj : layout_.q_proj), &at(layout_.kv_a_proj)},
                    &norms_.input_norm_bias});
  if (lora) {
    result.push_back(
        {attn + "q_a_layernorm.weight", norms_.q_a_norm, {&at(layout_.q_b_proj)}, &norms_.q_a_norm_bias});
  }
  // kv_a_layernorm normalizes the first kv_lora_rank channels of kv_a's output; kv_b reads exactly those.
  result.push_back(
      {attn + "kv_a_layernorm.weight", norms_.kv_a_norm, {&at(layout_.kv_b_proj)}, &norms_.kv_a_norm_bias});
  result.push_back({name_ + ".post_attention_layernorm.weight", norms_.post_attention_norm, mlp_readers(),
                    &norms_.post_attention_norm_bias});
  return result;
}

std::vector<LinearPairSubgraph> DeepseekBlock::linear_pair_subgraphs() {
  std::vector<LinearPairSubgraph> result;
  const auto up_down = [&](std::size_t gate) {
    result.push_back({LinearPairKind::kUpDown, &at(gate + 1), &at(gate + 2)});
  };
  if (layout_.dense_mlp != BlockLayout::kNone) up_down(layout_.dense_mlp);
  for (std::int64_t e = 0; layout_.first_expert != BlockLayout::kNone && e < config_.n_routed_experts; ++e) {
    up_down(layout_.first_expert + 3 * static_cast<std::size_t>(e));
  }
  if (layout_.shared_mlp != BlockLayout::kNone) up_down(layout_.shared_mlp);
  return result;
}

std::vector<Linear*> DeepseekBlock::mlp_writers() {
  if (layout_.dense_mlp != BlockLayout::kNone) return {&at(layout_.dense_mlp + 2)};
  std::vector<Linear*> writers;
  for (std::int64_t e = 0; e < config_.n_routed_experts; ++e)
    writers.push_back(&at(layout_.first_expert + 3 * static_cast<std::size_t>(e) + 2));
  if (layout_.shared_mlp != BlockLayout::kNone) writers.push_back(&at(layout_.shared_mlp + 2));
  return writers;
}

// The residual stream only: input_layernorm's readers (q_a_proj or q_proj, kv_a_proj_with_mqa) and
// post_attention_layernorm's (router, experts, shared experts, or the dense MLP) read it; o_proj and every
// down_proj write it. The latent paths (q_a_layernorm → q_b_proj, kv_a_layernorm → kv_b_proj) and the
// value heads stay in their own bases.
std::optional<BlockRotationPoints> DeepseekBlock::rotation_points() {
  std::vector<NormLinearSubgraph> subgraphs = norm_linear_subgraphs();
  BlockRotationPoints points;
  for (NormLinearSubgraph& subgraph : subgraphs) {
    const bool residual = subgraph.norm == name_ + ".input_layernorm.weight" ||
                          subgraph.norm == name_ + ".post_attention_layernorm.weight";
    if (!residual) continue;
    points.readers.insert(points.readers.end(), subgraph.linears.begin(), subgraph.linears.end());
    points.norms.push_back(std::move(subgraph));
  }
  points.writers = mlp_writers();
  points.writers.insert(points.writers.begin(), &at(layout_.o_proj));
  return points;
}

std::vector<FusedModule> deepseek_fused_modules(const DeepseekConfig& config, const std::string& name,
                                                bool moe) {
  const std::string attn = name + ".self_attn.";
  std::vector<FusedModule> modules;
  if (config.q_lora_rank > 0)
    modules.push_back({attn + "fused_qkv_a_proj", {attn + "q_a_proj", attn + "kv_a_proj_with_mqa"}});
  const auto gate_up = [&](const std::string& prefix) {
    modules.push_back({prefix + "gate_up_proj", {prefix + "gate_proj", prefix + "up_proj"}});
  };
  if (!moe) {
    gate_up(name + ".mlp.");
    return modules;
  }
  for (std::int64_t e = 0; e < config.n_routed_experts; ++e) gate_up(routed_expert_name(name, e) + ".");
  if (config.n_shared_experts > 0) gate_up(name + ".mlp.shared_experts.");
  return modules;
}

std::vector<FusedModule> DeepseekBlock::fused_modules() const {
  return deepseek_fused_modules(config_, name_, layout_.router != BlockLayout::kNone);
}

at::Tensor DeepseekBlock::queries(const at::Tensor& x) {
  if (layout_.q_proj != BlockLayout::kNone) return at(layout_.q_proj).forward(x);
  const at::Tensor compressed = at(layout_.q_a_proj).forward(x);
  return at(layout_.q_b_proj)
      .forward(rms_norm(compressed, norms_.q_a_norm, config_.rms_norm_eps, norms_.q_a_norm_bias));
}

at::Tensor DeepseekBlock::attention(const at::Tensor& x, const DeepseekContext& context) {
  const std::int64_t batch = x.size(0);
  const std::int64_t seq = x.size(1);
  const std::int64_t heads = config_.num_heads;
  const std::int64_t nope = config_.qk_nope_head_dim;
  const std::int64_t rope = config_.qk_rope_head_dim;
  const std::int64_t value_dim = config_.v_head_dim;
  const at::Tensor q = queries(x).view({batch, seq, heads, nope + rope}).transpose(1, 2);
  const at::Tensor compressed = at(layout_.kv_a_proj).forward(x);
  const at::Tensor latent = rms_norm(compressed.narrow(-1, 0, config_.kv_lora_rank), norms_.kv_a_norm,
                                     config_.rms_norm_eps, norms_.kv_a_norm_bias);
  const at::Tensor k_rope =
      apply_rope(compressed.narrow(-1, config_.kv_lora_rank, rope).view({batch, 1, seq, rope}), context.cos,
                 context.sin, config_.rope_interleave);
  const at::Tensor q_rope =
      apply_rope(q.narrow(-1, nope, rope), context.cos, context.sin, config_.rope_interleave);
  if (fa3_active()) return attention_absorbed(q.narrow(-1, 0, nope), q_rope, latent, k_rope, context.mask);
  const at::Tensor kv =
      at(layout_.kv_b_proj).forward(latent).view({batch, seq, heads, nope + value_dim}).transpose(1, 2);
  const at::Tensor query = at::cat({q.narrow(-1, 0, nope), q_rope}, -1);
  const at::Tensor key = at::cat({kv.narrow(-1, 0, nope), k_rope.expand({batch, heads, seq, rope})}, -1);
  const at::Tensor value = kv.narrow(-1, nope, value_dim);
  const at::Tensor scores = at::matmul(query, key.transpose(-1, -2)) * softmax_scale(config_) + context.mask;
  const at::Tensor output = at::matmul(at::softmax(scores, -1), value);
  return at(layout_.o_proj).forward(output.transpose(1, 2).reshape({batch, seq, heads * value_dim}));
}

at::Tensor DeepseekBlock::mlp(std::size_t gate, const at::Tensor& x) {
  return at(gate + 2).forward(at::silu(at(gate).forward(x)) * at(gate + 1).forward(x));
}

void add_routed_expert(const Linear& gate, const Linear& up, const Linear& down, std::int64_t expert,
                       const Routing& routing, const at::Tensor& flat, bool all_experts, at::Tensor& output,
                       std::int64_t& tokens) {
  const at::Tensor hits = (routing.experts == expert).nonzero();  // [n, 2]: token, slot
  const std::int64_t count = hits.size(0);
  tokens += count;
  if (count == 0 && !all_experts) return;
  const at::Tensor rows = hits.select(1, 0);
  const auto swiglu = [&](const at::Tensor& x) {
    return down.forward(at::silu(gate.forward(x)) * up.forward(x));
  };
  // With all_experts every token reaches the expert's observers; only the routed rows are kept.
  const at::Tensor expert_output =
      all_experts ? swiglu(flat).index_select(0, rows) : swiglu(flat.index_select(0, rows));
  if (count == 0) return;
  const at::Tensor weights = routing.weights.index({rows, hits.select(1, 1)}).unsqueeze(1);
  output.index_add_(0, rows, expert_output * weights);
}

Routing DeepseekBlock::route(const at::Tensor& flat) {
  const at::Tensor logits = at(layout_.router).forward(flat).to(at::kFloat);
  return route_tokens(logits, config_, norms_.correction_bias);
}

at::Tensor DeepseekBlock::shared_experts(const at::Tensor& flat) {
  return layout_.shared_mlp != BlockLayout::kNone ? mlp(layout_.shared_mlp, flat) : at::Tensor();
}

at::Tensor DeepseekBlock::moe(const at::Tensor& x) {
  const at::Tensor flat = x.reshape({-1, x.size(-1)});
  const Routing routing = route(flat);
  at::Tensor output = at::zeros_like(flat);
  for (std::int64_t e = 0; e < config_.n_routed_experts; ++e) {
    const std::size_t gate = layout_.first_expert + 3 * static_cast<std::size_t>(e);
    add_routed_expert(at(gate), at(gate + 1), at(gate + 2), e, routing, flat, all_experts_, output,
                      tokens_[static_cast<std::size_t>(e)]);
  }
  if (layout_.shared_mlp != BlockLayout::kNone) output = output + shared_experts(flat);
  return output.view(x.sizes());
}

at::Tensor DeepseekBlock::attention_residual(const at::Tensor& x, const DeepseekContext& context) {
  return x + attention(rms_norm(x, norms_.input_norm, config_.rms_norm_eps, norms_.input_norm_bias), context);
}

at::Tensor DeepseekBlock::mlp_input(const at::Tensor& residual) const {
  return rms_norm(residual, norms_.post_attention_norm, config_.rms_norm_eps,
                  norms_.post_attention_norm_bias);
}

at::Tensor DeepseekBlock::forward(const at::Tensor& hidden, const ForwardContext& context) {
  const at::Tensor h =
      attention_residual(hidden.to(at::kFloat), dynamic_cast<const DeepseekContext&>(context));
  const at::Tensor n = mlp_input(h);
  return h + (layout_.dense_mlp != BlockLayout::kNone ? mlp(layout_.dense_mlp, n) : moe(n));
}

}  // namespace modelslim::deepseek
