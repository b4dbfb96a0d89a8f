// The subgraphs a smoothing processor works on: its `enable_subgraph_type`, `include` and `exclude` keys (the
// reference's: patterns match the subgraph source, the norm module or the source linear) applied to what
// the block describes, in the reference's processing order (up-down, ov, linear-linear, norm-linear), so
// later weight statistics see earlier fusions.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/config_node.hpp"
#include "modelslim/name_pattern.hpp"

namespace modelslim::smoothing_search {

enum class SubgraphType { kUpDown, kOV, kLinearLinear, kNormLinear };  // processing order
const char* subgraph_type_name(SubgraphType type);

struct SmoothSubgraph {
  SubgraphType type = SubgraphType::kNormLinear;
  std::string source;                      // "model.layers.0.input_layernorm", "....self_attn.v_proj"
  std::optional<NormLinearSubgraph> norm;  // kNormLinear
  std::optional<LinearPairSubgraph> pair;  // the others

  // The linears whose input channels are scaled up (the norm's readers, or the pair's target).
  std::vector<Linear*> targets() const;
  // The function-preserving fusion of per-channel scales (SDK): norm γ / s or source rows / s, targets
  // W·diag(s). OV under grouped-query attention applies the mean over the heads sharing a kv head.
  void fuse(const at::Tensor& scales);
};

class SubgraphSelection {
 public:
  // Reads enable_subgraph_type (default: all four), include (default ["*"]) and exclude.
  explicit SubgraphSelection(const ConfigNode& config);

  // The block's enabled subgraphs whose source the patterns select, in processing order.
  std::vector<SmoothSubgraph> select(Block& block);
  // "pattern matched no subgraph" warnings, prefixed with `config_path`.
  std::vector<std::string> warnings(const std::string& config_path) const;

 private:
  std::set<SubgraphType> enabled_;
  NameFilter filter_;
};

}  // namespace modelslim::smoothing_search
