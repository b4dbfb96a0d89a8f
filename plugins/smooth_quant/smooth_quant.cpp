// `smooth_quant` (norm → linears): moves activation outliers into the weights. For each norm-linear subgraph
// the calibration forward records a_c = max |x_c| of the norm output; then with w_c = max over the linears of
// max_rows |W[:, c]|, s_c = max(a_c^α / w_c^(1−α), scale_min), the norm weight becomes γ / s and every linear
// W · diag(s). The block computes the same function; its linears see inputs without outlier channels.
//
//   - {type: smooth_quant, alpha: 0.5, scale_min: 1e-5, include: ["*"], exclude: []}   # patterns match norm
//   names
#include <memory>
#include <string>
#include <vector>

#include "modelslim/name_pattern.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"
#include "modelslim/smoothing.hpp"

namespace {

class SmoothQuant final : public modelslim::Processor {
 public:
  explicit SmoothQuant(const modelslim::ConfigNode& config)
      : filter_(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {})),
        config_path_(config.path()) {
    config.check_keys({"type", "alpha", "scale_min", "include", "exclude"});
    alpha_ = config.get_double("alpha", 0.5);
    if (!(alpha_ > 0.0 && alpha_ < 1.0)) config["alpha"].fail("must be in (0, 1)");
    scale_min_ = config.get_double("scale_min", 1e-5);
    if (!(scale_min_ > 0.0 && scale_min_ < 1.0)) config["scale_min"].fail("must be in (0, 1)");
  }

  bool is_data_free() const override { return false; }
  // Channel ranges combine exactly across ranks (synchronize in postprocess).
  bool support_distributed() const override { return true; }
  bool block_local() const override { return true; }

  void preprocess(modelslim::BlockRequest& request) override {
    subgraphs_.clear();
    for (auto& subgraph : request.block.norm_linear_subgraphs()) {
      const std::string source = subgraph.norm.substr(0, subgraph.norm.rfind(".weight"));
      if (subgraph.linears.empty() || !filter_.selects(source)) continue;
      auto observer = std::make_unique<modelslim::ChannelRangeObserver>(*subgraph.linears.front());
      subgraphs_.push_back({std::move(subgraph), std::move(observer)});
    }
  }

  void postprocess(modelslim::BlockRequest& request) override {
    if (request.communicator != nullptr) {
      for (auto& entry : subgraphs_) entry.observer->synchronize(*request.communicator);
    }
    for (auto& entry : subgraphs_) {
      entry.observer->detach();
      if (!entry.observer->seen()) continue;  // no calibration data reached it
      const at::Tensor scales = modelslim::smoothing_scales(
          entry.observer->absmax(), modelslim::weight_column_absmax(entry.subgraph.linears), alpha_,
          scale_min_);
      modelslim::fuse_norm_linear_scales(entry.subgraph, scales);
    }
    subgraphs_.clear();
  }

  std::vector<std::string> warnings() const override {
    std::vector<std::string> messages;
    for (const auto& pattern : filter_.unmatched_patterns()) {
      messages.push_back(config_path_ + ": pattern '" + pattern + "' matched no norm-linear subgraph");
    }
    return messages;
  }

 private:
  struct Pending {
    modelslim::NormLinearSubgraph subgraph;
    std::unique_ptr<modelslim::ChannelRangeObserver> observer;
  };
  modelslim::NameFilter filter_;
  std::string config_path_;
  double alpha_ = 0.5;
  double scale_min_ = 1e-5;
  std::vector<Pending> subgraphs_;
};

void register_smooth_quant(modelslim::Registrar& registrar) {
  registrar.add_processor("smooth_quant",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return std::make_unique<SmoothQuant>(config);
                          });
}

}  // namespace

MODELSLIM_PLUGIN("smooth_quant", MODELSLIM_PLUGIN_VERSION, register_smooth_quant)
