// `smooth_quant` (norm → linears): moves activation outliers into the weights. For each norm-linear subgraph
// the calibration forward records a_c = max |x_c| of the norm output; then with w_c = max over the linears of
// max_rows |W[:, c]|, s_c = max(a_c^α / w_c^(1−α), scale_min), the norm weight becomes γ / s and every linear
// W · diag(s). The block computes the same function; its linears see inputs without outlier channels.
//
//   - {type: smooth_quant, alpha: 0.5, scale_min: 1e-5, include: ["*"], exclude: []}   # patterns match norm
//   names
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modelslim/name_pattern.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

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

  void preprocess(modelslim::BlockRequest& request) override {
    subgraphs_.clear();
    for (auto& subgraph : request.block.norm_linear_subgraphs()) {
      const std::string source = subgraph.norm.substr(0, subgraph.norm.rfind(".weight"));
      if (subgraph.linears.empty() || !filter_.selects(source)) continue;
      auto absmax = std::make_shared<at::Tensor>();
      modelslim::Linear* first = subgraph.linears.front();
      const std::size_t id = first->add_observer([absmax](const at::Tensor& input) {
        const at::Tensor x = input.detach().abs().reshape({-1, input.size(-1)}).amax(0).to(at::kFloat);
        *absmax = absmax->defined() ? at::maximum(*absmax, x) : x;
      });
      subgraphs_.push_back({std::move(subgraph), absmax, first, id});
    }
  }

  void postprocess(modelslim::BlockRequest&) override {
    for (auto& entry : subgraphs_) {
      entry.observed->remove_observer(entry.observer_id);
      if (!entry.absmax->defined()) continue;  // no calibration data reached it
      at::Tensor weight_max;
      for (const modelslim::Linear* linear : entry.subgraph.linears) {
        const at::Tensor column_max = linear->weight().abs().amax(0);
        weight_max = weight_max.defined() ? at::maximum(weight_max, column_max) : column_max;
      }
      const at::Tensor scale = at::clamp_min(
          at::pow(*entry.absmax, alpha_) / at::pow(at::clamp_min(weight_max, 1e-5), 1.0 - alpha_),
          scale_min_);
      entry.subgraph.norm_weight.div_(scale);
      for (modelslim::Linear* linear : entry.subgraph.linears) linear->weight().mul_(scale.unsqueeze(0));
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
    std::shared_ptr<at::Tensor> absmax;
    modelslim::Linear* observed;
    std::size_t observer_id;
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

MODELSLIM_PLUGIN("smooth_quant", "0.1.0", register_smooth_quant)
