// The MLP half of an MoE decoder layer: a dense SwiGLU MLP, or a sparse block routing each token to its
// top-k experts exactly as transformers does (router logits → softmax in float32 → torch.topk → optional
// renormalisation → weighted sum of the chosen experts' SwiGLU outputs), plus Qwen2-MoE's shared expert
// scaled by sigmoid(shared_expert_gate). Every matmul is a modelslim::Linear forward.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "modelslim/linear.hpp"
#include "moe_config.hpp"

namespace modelslim::moe {

// Where an MLP's linears sit in the block's list (after q, k, v, o). Dense: gate, up, down. Sparse: the
// router, each expert's gate, up, down, then the shared expert's gate, up, down and its gate.
struct MlpLayout {
  bool sparse = false;
  std::size_t first = 4;
  std::int64_t experts = 0;
  bool shared = false;

  std::size_t router() const { return first; }
  std::size_t gate(std::int64_t expert) const { return first + 1 + 3 * static_cast<std::size_t>(expert); }
  std::size_t up(std::int64_t expert) const { return gate(expert) + 1; }
  std::size_t down(std::int64_t expert) const { return gate(expert) + 2; }
  // The shared expert is "expert number `experts`" in this layout.
  std::size_t shared_expert_gate() const { return gate(experts) + 3; }
  std::size_t count() const;
};

MlpLayout mlp_layout(const MoeConfig& config, std::int64_t layer);

struct LinearSpec {
  std::string name;  // full module name
  std::int64_t out = 0;
  std::int64_t in = 0;
};
// The MLP's linears of layer `layer` (block name `block`), in layout order.
std::vector<LinearSpec> mlp_linear_specs(const MoeConfig& config, const std::string& block,
                                         std::int64_t layer);
// "model.layers.3.mlp.experts.17" (Mixtral: "....block_sparse_moe.experts.17").
std::string expert_name(const MoeConfig& config, const std::string& block, std::int64_t expert);

// Calibration statistics of one sparse block.
struct RoutingStatistics {
  // Run every token through every expert (for the linears' observers only; the output keeps the routing).
  bool all_experts = false;
  std::vector<std::int64_t> tokens_per_expert;  // tokens routed to each expert, summed over forwards
};

// The router's choice for every token: softmax in float32, torch.topk, optional renormalisation.
struct Routing {
  at::Tensor flat;      // the normed input, [tokens, hidden]
  at::Tensor weights;   // [tokens, top_k]
  at::Tensor selected;  // int64 [tokens, top_k]
};
Routing route(const MoeConfig& config, const Linear& router, const at::Tensor& x);

// Adds expert `expert`'s weighted SwiGLU output for the tokens routed to it into `output` ([tokens,
// hidden]) and adds their count to `tokens`. With `all_experts` every token runs through it (statistics).
void add_expert(const Linear& gate, const Linear& up, const Linear& down, std::int64_t expert,
                const Routing& routing, bool all_experts, at::Tensor& output, std::int64_t& tokens);
// Qwen2-MoE's shared expert: sigmoid(shared_expert_gate(x)) · SwiGLU(x).
at::Tensor shared_expert(const Linear& gate, const Linear& up, const Linear& down, const Linear& shared_gate,
                         const at::Tensor& flat);

// x: the normed input [1, seq, hidden].
at::Tensor dense_mlp(const std::vector<Linear>& linears, const MlpLayout& layout, const at::Tensor& x);
at::Tensor sparse_mlp(const MoeConfig& config, const std::vector<Linear>& linears, const MlpLayout& layout,
                      const at::Tensor& x, RoutingStatistics& statistics);

}  // namespace modelslim::moe
