// `iter_smooth`: outlier suppression over every subgraph kind the model adapter describes. One calibration
// forward per block records per-channel ranges of each subgraph's consuming linear input; then
// s_c = max(a_c^α / w_c^(1−α), scale_min) is fused in the order up-down, ov, linear-linear, norm-linear
// (the later weight statistics see the earlier fusions, as in the reference). Symmetric uses a_c = max |x_c|;
// asymmetric (norm-linear only) first removes the channel centre δ_c = (max_c + min_c)/2 through a norm bias
// and a folded linear bias, then a_c = max |x_c − δ_c|. Float function preserved.
//
//   - {type: iter_smooth, alpha: 0.9, scale_min: 1e-5, symmetric: true,
//      enable_subgraph_type: [norm-linear, linear-linear, ov, up-down], include: ["*"], exclude: []}
//
// include/exclude match the subgraph source: the norm ("model.layers.0.input_layernorm") or the source
// linear ("model.layers.0.self_attn.v_proj").
#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "modelslim/name_pattern.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"
#include "modelslim/smoothing.hpp"

namespace {

const std::vector<std::string> kSubgraphTypes = {"norm-linear", "linear-linear", "ov", "up-down"};

std::string pair_type_name(modelslim::LinearPairKind kind) {
  switch (kind) {
    case modelslim::LinearPairKind::kOV:
      return "ov";
    case modelslim::LinearPairKind::kUpDown:
      return "up-down";
    case modelslim::LinearPairKind::kLinearLinear:
      break;
  }
  return "linear-linear";
}

std::string module_of(const std::string& parameter) {
  const auto dot = parameter.rfind(".weight");
  return dot == std::string::npos ? parameter : parameter.substr(0, dot);
}

class IterSmooth final : public modelslim::Processor {
 public:
  explicit IterSmooth(const modelslim::ConfigNode& config)
      : filter_(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {})),
        config_path_(config.path()) {
    config.check_keys(
        {"type", "alpha", "scale_min", "symmetric", "enable_subgraph_type", "include", "exclude"});
    alpha_ = config.get_double("alpha", 0.9);
    if (!(alpha_ > 0.0 && alpha_ < 1.0)) config["alpha"].fail("must be in (0, 1)");
    scale_min_ = config.get_double("scale_min", 1e-5);
    if (!(scale_min_ > 0.0 && scale_min_ < 1.0)) config["scale_min"].fail("must be in (0, 1)");
    symmetric_ = config.get_bool("symmetric", true);
    const auto types = config.get_string_list("enable_subgraph_type", kSubgraphTypes);
    if (types.empty()) config["enable_subgraph_type"].fail("must name at least one subgraph type");
    for (std::size_t i = 0; i < types.size(); ++i) {
      if (std::find(kSubgraphTypes.begin(), kSubgraphTypes.end(), types[i]) == kSubgraphTypes.end()) {
        config["enable_subgraph_type"].at(i).fail("unknown subgraph type '" + types[i] +
                                                  "' (expected norm-linear, linear-linear, ov or up-down)");
      }
      enabled_.insert(types[i]);
    }
  }

  bool is_data_free() const override { return false; }
  // Channel ranges combine exactly across ranks (synchronize in postprocess).
  bool support_distributed() const override { return true; }
  bool block_local() const override { return true; }

  void preprocess(modelslim::BlockRequest& request) override {
    pairs_.clear();
    norms_.clear();
    for (auto& pair : request.block.linear_pair_subgraphs()) {
      if (!enabled_.count(pair_type_name(pair.kind)) || !filter_.selects(pair.source->name())) continue;
      pairs_.push_back({pair, std::make_unique<modelslim::ChannelRangeObserver>(*pair.target)});
    }
    for (auto& norm : request.block.norm_linear_subgraphs()) {
      if (!enabled_.count("norm-linear") || norm.linears.empty() || !filter_.selects(module_of(norm.norm)))
        continue;
      if (!symmetric_ && norm.norm_bias == nullptr) {
        throw modelslim::Error(modelslim::ErrorCode::kUnsupported,
                               config_path_ + ".symmetric: false needs a norm bias at " + norm.norm +
                                   ", which this model adapter cannot add",
                               "use symmetric: true for this model");
      }
      auto observer = std::make_unique<modelslim::ChannelRangeObserver>(*norm.linears.front());
      norms_.push_back({std::move(norm), std::move(observer)});
    }
  }

  void postprocess(modelslim::BlockRequest& request) override {
    if (request.communicator != nullptr) {
      for (auto& entry : pairs_) entry.observer->synchronize(*request.communicator);
      for (auto& entry : norms_) entry.observer->synchronize(*request.communicator);
    }
    // Reference order: up-down, ov, linear-linear, then norm-linear.
    for (const auto kind : {modelslim::LinearPairKind::kUpDown, modelslim::LinearPairKind::kOV,
                            modelslim::LinearPairKind::kLinearLinear}) {
      for (auto& entry : pairs_) {
        if (entry.subgraph.kind != kind || !entry.observer->seen()) continue;
        entry.observer->detach();
        const at::Tensor scales = modelslim::smoothing_scales(
            entry.observer->absmax(), modelslim::weight_column_absmax({entry.subgraph.target}), alpha_,
            scale_min_);
        modelslim::fuse_linear_pair_scales(entry.subgraph, scales);
      }
    }
    for (auto& entry : norms_) {
      if (!entry.observer->seen()) continue;
      entry.observer->detach();
      const at::Tensor shift = symmetric_ ? at::Tensor() : entry.observer->shift();
      const at::Tensor act =
          symmetric_ ? entry.observer->absmax() : (entry.observer->max() - entry.observer->min()) / 2.0;
      const at::Tensor scales = modelslim::smoothing_scales(
          act, modelslim::weight_column_absmax(entry.subgraph.linears), alpha_, scale_min_);
      modelslim::fuse_norm_linear_scales(entry.subgraph, scales, shift);
    }
    pairs_.clear();
    norms_.clear();
  }

  std::vector<std::string> warnings() const override {
    std::vector<std::string> messages;
    for (const auto& pattern : filter_.unmatched_patterns()) {
      messages.push_back(config_path_ + ": pattern '" + pattern + "' matched no smoothing subgraph");
    }
    return messages;
  }

 private:
  struct PendingPair {
    modelslim::LinearPairSubgraph subgraph;
    std::unique_ptr<modelslim::ChannelRangeObserver> observer;
  };
  struct PendingNorm {
    modelslim::NormLinearSubgraph subgraph;
    std::unique_ptr<modelslim::ChannelRangeObserver> observer;
  };

  modelslim::NameFilter filter_;
  std::string config_path_;
  double alpha_ = 0.9;
  double scale_min_ = 1e-5;
  bool symmetric_ = true;
  std::set<std::string> enabled_;
  std::vector<PendingPair> pairs_;
  std::vector<PendingNorm> norms_;
};

void register_iter_smooth(modelslim::Registrar& registrar) {
  registrar.add_processor("iter_smooth",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return std::make_unique<IterSmooth>(config);
                          });
}

}  // namespace

MODELSLIM_PLUGIN("iter_smooth", MODELSLIM_PLUGIN_VERSION, register_iter_smooth)
