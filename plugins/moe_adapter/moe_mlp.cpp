#include "moe_mlp.hpp"

#include <ATen/ATen.h>

namespace modelslim::moe {
namespace {

at::Tensor swiglu(const std::vector<Linear>& linears, std::size_t gate, const at::Tensor& x) {
  return linears[gate + 2].forward(at::silu(linears[gate].forward(x)) * linears[gate + 1].forward(x));
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
  return swiglu(linears, layout.first, x);
}

at::Tensor sparse_mlp(const MoeConfig& config, const std::vector<Linear>& linears, const MlpLayout& layout,
                      const at::Tensor& x, RoutingStatistics& statistics) {
  const at::Tensor flat = x.reshape({-1, x.size(-1)});
  const at::Tensor logits = linears[layout.router()].forward(flat);
  const at::Tensor probabilities = at::softmax(logits, -1, at::kFloat);
  auto [weights, selected] = at::topk(probabilities, config.top_k, -1);  // ties as torch.topk
  if (config.norm_topk_prob) weights = weights / weights.sum(-1, true);
  statistics.tokens_per_expert.resize(static_cast<std::size_t>(layout.experts), 0);
  at::Tensor output = at::zeros_like(flat);
  for (std::int64_t e = 0; e < layout.experts; ++e) {
    const at::Tensor hits = (selected == e).nonzero();  // [n, 2]: (token, slot); a token picks e at most once
    const std::int64_t count = hits.size(0);
    statistics.tokens_per_expert[static_cast<std::size_t>(e)] += count;
    if (count == 0 && !statistics.all_experts) continue;
    const at::Tensor tokens = hits.select(1, 0);
    const at::Tensor token_weights =
        weights.index_select(0, tokens).gather(1, hits.select(1, 1).unsqueeze(1));
    // With all_experts every token reaches the expert's observers; only the routed rows are kept.
    const at::Tensor expert_output = statistics.all_experts
                                         ? swiglu(linears, layout.gate(e), flat).index_select(0, tokens)
                                         : swiglu(linears, layout.gate(e), flat.index_select(0, tokens));
    if (count > 0) output.index_add_(0, tokens, expert_output * token_weights);
  }
  if (layout.shared) {
    const at::Tensor shared = swiglu(linears, layout.gate(layout.experts), flat);
    output = output + at::sigmoid(linears[layout.shared_expert_gate()].forward(flat)) * shared;
  }
  return output.view(x.sizes());
}

}  // namespace modelslim::moe
