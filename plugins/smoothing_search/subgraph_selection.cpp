#include "subgraph_selection.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "modelslim/smoothing.hpp"

namespace modelslim::smoothing_search {
namespace {

constexpr SubgraphType kAllTypes[] = {SubgraphType::kNormLinear, SubgraphType::kLinearLinear,
                                      SubgraphType::kOV, SubgraphType::kUpDown};

SubgraphType pair_type(LinearPairKind kind) {
  switch (kind) {
    case LinearPairKind::kOV:
      return SubgraphType::kOV;
    case LinearPairKind::kUpDown:
      return SubgraphType::kUpDown;
    case LinearPairKind::kLinearLinear:
      break;
  }
  return SubgraphType::kLinearLinear;
}

std::string module_of(const std::string& parameter) {
  const auto dot = parameter.rfind(".weight");
  return dot == std::string::npos ? parameter : parameter.substr(0, dot);
}

}  // namespace

const char* subgraph_type_name(SubgraphType type) {
  switch (type) {
    case SubgraphType::kNormLinear:
      return "norm-linear";
    case SubgraphType::kLinearLinear:
      return "linear-linear";
    case SubgraphType::kOV:
      return "ov";
    case SubgraphType::kUpDown:
      return "up-down";
  }
  return "?";
}

std::vector<Linear*> SmoothSubgraph::targets() const {
  return norm ? norm->linears : std::vector<Linear*>{pair->target};
}

void SmoothSubgraph::fuse(const at::Tensor& scales) {
  if (norm) {
    fuse_norm_linear_scales(*norm, scales);
  } else {
    fuse_linear_pair_scales(*pair, scales);
  }
}

SubgraphSelection::SubgraphSelection(const ConfigNode& config)
    : filter_(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {})) {
  std::vector<std::string> all;
  for (const SubgraphType type : kAllTypes) all.emplace_back(subgraph_type_name(type));
  const auto types = config.get_string_list("enable_subgraph_type", all);
  if (types.empty()) config["enable_subgraph_type"].fail("must name at least one subgraph type");
  for (std::size_t i = 0; i < types.size(); ++i) {
    const auto found = std::find(all.begin(), all.end(), types[i]);
    if (found == all.end()) {
      config["enable_subgraph_type"].at(i).fail("unknown subgraph type '" + types[i] +
                                                "' (expected norm-linear, linear-linear, ov or up-down)");
    }
    enabled_.insert(kAllTypes[found - all.begin()]);
  }
}

std::vector<SmoothSubgraph> SubgraphSelection::select(Block& block) {
  std::vector<SmoothSubgraph> selected;
  for (auto& pair : block.linear_pair_subgraphs()) {
    const SubgraphType type = pair_type(pair.kind);
    if (!enabled_.count(type) || !filter_.selects(pair.source->name())) continue;
    selected.push_back({type, pair.source->name(), std::nullopt, pair});
  }
  for (auto& norm : block.norm_linear_subgraphs()) {
    const std::string source = module_of(norm.norm);
    if (!enabled_.count(SubgraphType::kNormLinear) || norm.linears.empty() || !filter_.selects(source))
      continue;
    selected.push_back({SubgraphType::kNormLinear, source, norm, std::nullopt});
  }
  std::stable_sort(selected.begin(), selected.end(),
                   [](const SmoothSubgraph& a, const SmoothSubgraph& b) { return a.type < b.type; });
  return selected;
}

std::vector<std::string> SubgraphSelection::warnings(const std::string& config_path) const {
  std::vector<std::string> messages;
  for (const auto& pattern : filter_.unmatched_patterns()) {
    messages.push_back(config_path + ": pattern '" + pattern + "' matched no smoothing subgraph");
  }
  return messages;
}

}  // namespace modelslim::smoothing_search
