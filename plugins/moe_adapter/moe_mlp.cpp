#include "moe_mlp.hpp"

#include <ATen/ATen.h>

#include <tuple>

namespace modelslim::moe {
namespace {

at::Tensor swiglu(const Linear& gate, const Linear& up, const Linear& down, const at::Tensor& x) {
  return down.forward(at::silu(gate.forward(x)) * up.forward(x));
}

}  // namespace

std::size_t MlpLayout::count() const {
  if (!sparse) return 3;
  return 1 + 3 * static_cast<std::size_t>(experts) + (shared ? 4 : 0);
}

MlpLayout mlp_layout(const MoeConfig& config, std::int64_t layer) {
  MlpLayout layout;
  layout.sparse = config.is_sparse(layer);
  if (layout.sparse) {
    layout.experts = config.num_experts;
    layout.shared = config.shared_expert_intermediate_size > 0;
  }
  return layout;
}

std::string expert_name(const MoeConfig& config, const std::string& block, std::int64_t expert) {
  return block + "." + config.moe_module() + ".experts." + std::to_string(expert);
}

std::vector<LinearSpec> mlp_linear_specs(const MoeConfig& config, const std::string& block,
                                         std::int64_t layer) {
  const std::int64_t hidden = config.hidden_size;
  const auto swiglu_specs = [&](const std::string& prefix, std::int64_t inter, bool mixtral) {
    return std::vector<LinearSpec>{{prefix + (mixtral ? "w1" : "gate_proj"), inter, hidden},
                                   {prefix + (mixtral ? "w3" : "up_proj"), inter, hidden},
                                   {prefix + (mixtral ? "w2" : "down_proj"), hidden, inter}};
  };
  if (!config.is_sparse(layer)) return swiglu_specs(block + ".mlp.", config.intermediate_size, false);
  const bool mixtral = config.family == MoeFamily::kMixtral;
  const std::string moe = block + "." + config.moe_module() + ".";
  std::vector<LinearSpec> specs = {{moe + "gate", config.num_experts, hidden}};
  for (std::int64_t e = 0; e < config.num_experts; ++e) {
    for (LinearSpec& spec :
         swiglu_specs(expert_name(config, block, e) + ".", config.expert_intermediate_size, mixtral))
      specs.push_back(std::move(spec));
  }
  if (config.shared_expert_intermediate_size > 0) {
    for (LinearSpec& spec :
         swiglu_specs(moe + "shared_expert.", config.shared_expert_intermediate_size, false))
      specs.push_back(std::move(spec));
    specs.push_back({moe + "shared_expert_gate", 1, hidden});
  }
  return specs;
}

at::Tensor dense_mlp(const std::vector<Linear>& linears, const MlpLayout& layout, const at::Tensor& x) {
  return swiglu(linears[layout.first], linears[layout.first + 1], linears[layout.first + 2], x);
}

Routing route(const MoeConfig& config, const Linear& router, const at::Tensor& x) {
  Routing routing;
  routing.flat = x.reshape({-1, x.size(-1)});
  const at::Tensor logits = router.forward(routing.flat);
  const at::Tensor probabilities = at::softmax(logits, -1, at::kFloat);
  std::tie(routing.weights, routing.selected) = at::topk(probabilities, config.top_k, -1);  // ties as torch
  if (config.norm_topk_prob) routing.weights = routing.weights / routing.weights.sum(-1, true);
  return routing;
}

void add_expert(const Linear& gate, const Linear& up, const Linear& down, std::int64_t expert,
                const Routing& routing, bool all_experts, at::Tensor& output, std::int64_t& tokens) {
  const at::Tensor hits = (routing.selected == expert).nonzero();  // [n, 2]: (token, slot), one per token
  const std::int64_t count = hits.size(0);
  tokens += count;
  if (count == 0 && !all_experts) return;
  const at::Tensor rows = hits.select(1, 0);
  const at::Tensor row_weights =
      routing.weights.index_select(0, rows).gather(1, hits.select(1, 1).unsqueeze(1));
  // With all_experts every token reaches the expert's observers; only the routed rows are kept.
  const at::Tensor expert_output = all_experts ? swiglu(gate, up, down, routing.flat).index_select(0, rows)
                                               : swiglu(gate, up, down, routing.flat.index_select(0, rows));
  if (count > 0) output.index_add_(0, rows, expert_output * row_weights);
}

at::Tensor shared_expert(const Linear& gate, const Linear& up, const Linear& down, const Linear& shared_gate,
                         const at::Tensor& flat) {
  const at::Tensor shared = swiglu(gate, up, down, flat);
  return at::sigmoid(shared_gate.forward(flat)) * shared;
}

at::Tensor sparse_mlp(const MoeConfig& config, const std::vector<Linear>& linears, const MlpLayout& layout,
                      const at::Tensor& x, RoutingStatistics& statistics) {
  const Routing routing = route(config, linears[layout.router()], x);
  statistics.tokens_per_expert.resize(static_cast<std::size_t>(layout.experts), 0);
  at::Tensor output = at::zeros_like(routing.flat);
  for (std::int64_t e = 0; e < layout.experts; ++e) {
    add_expert(linears[layout.gate(e)], linears[layout.up(e)], linears[layout.down(e)], e, routing,
               statistics.all_experts, output, statistics.tokens_per_expert[static_cast<std::size_t>(e)]);
  }
  if (layout.shared) {
    const std::size_t shared = layout.gate(layout.experts);
    output = output + shared_expert(linears[shared], linears[shared + 1], linears[shared + 2],
                                    linears[layout.shared_expert_gate()], routing.flat);
  }
  return output.view(x.sizes());
}

}  // namespace modelslim::moe
