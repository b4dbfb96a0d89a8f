#include "flex_smooth_processor.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <limits>

#include "modelslim/smoothing.hpp"

namespace modelslim::flex_smooth {
namespace {

using smoothing_search::SubgraphType;

std::optional<double> strength(const ConfigNode& config, const std::string& key) {
  if (!config.has(key) || !config[key].defined()) return std::nullopt;  // absent or null: searched
  const double value = config[key].as_double();
  if (!(value > 0.0 && value < 1.0)) config[key].fail("must be in (0, 1), or null to search it");
  return value;
}

LinearQuantSpec parse_linear_qconfig(const ConfigNode& config) {
  const ConfigNode qconfig = config["qconfig"];
  if (!qconfig.defined()) {
    config.fail(
        "flex_awq_ssz needs 'qconfig' (act and weight quantizers the search evaluates, e.g. act "
        "per_token int8 and weight per_channel int4 ssz)");
  }
  qconfig.require_map();
  qconfig.check_keys({"act", "weight"});
  if (!qconfig.has("weight")) qconfig.fail("missing required field 'weight'");
  LinearQuantSpec spec;
  spec.weight = smoothing_search::parse_weight_quantizer(qconfig["weight"]);
  if (qconfig["act"].defined()) spec.act = smoothing_search::parse_act_quantizer(qconfig["act"]);
  return spec;
}

// The readers' weights stacked by rows: what one search evaluates.
at::Tensor stacked_weights(const std::vector<Linear*>& linears) {
  std::vector<at::Tensor> weights;
  for (const Linear* linear : linears) weights.push_back(linear->weight().to(at::kFloat));
  return weights.size() == 1 ? weights.front() : at::cat(weights, 0);
}

}  // namespace

FlexSmoothProcessor::FlexSmoothProcessor(const ConfigNode& config, FlexKind kind)
    : kind_(kind), config_path_(config.path()), selection_(config) {
  std::vector<std::string> keys = {"type", "alpha", "beta", "enable_subgraph_type", "include", "exclude"};
  if (kind == FlexKind::kFlexAwqSsz) keys.push_back("qconfig");
  config.check_keys(keys);
  alpha_ = strength(config, "alpha");
  beta_ = strength(config, "beta");
  if (kind == FlexKind::kFlexAwqSsz) {
    qconfig_ = parse_linear_qconfig(config);
    if (beta_)
      spdlog::warn("{}.beta: flex_awq_ssz always uses beta 0 (as the reference); ignored", config_path_);
  }
}

void FlexSmoothProcessor::preprocess(BlockRequest& request) {
  pending_.clear();
  for (auto& subgraph : selection_.select(request.block)) {
    auto recorder = std::make_unique<smoothing_search::InputRecorder>(*subgraph.targets().front());
    pending_.push_back({std::move(subgraph), std::move(recorder)});
  }
}

FlexChoice FlexSmoothProcessor::choose(const Pending& entry, const at::Tensor& act) const {
  const double unknown = std::numeric_limits<double>::quiet_NaN();
  std::vector<Linear*> linears = entry.subgraph.targets();
  if (kind_ == FlexKind::kFlexSmoothQuant) {
    if (alpha_ && beta_) return {*alpha_, *beta_, unknown};
    return search_flex_smooth(act, stacked_weights(linears));
  }
  if (alpha_) return {*alpha_, 0.0, unknown};
  if (linears.size() > 3) linears.resize(2);  // the reference searches on the first two readers then
  return search_flex_awq_ssz(act, stacked_weights(linears), qconfig_);
}

at::Tensor FlexSmoothProcessor::scales(const Pending& entry, const FlexChoice& choice) const {
  const auto& subgraph = entry.subgraph;
  at::Tensor act =
      kind_ == FlexKind::kFlexSmoothQuant ? entry.recorder->abs_max() : entry.recorder->abs_mean();
  at::Tensor weight = weight_column_absmax(subgraph.targets()).clamp_min(1e-5);
  const auto& pair = subgraph.pair;
  const bool grouped = kind_ == FlexKind::kFlexAwqSsz && subgraph.type == SubgraphType::kOV &&
                       pair->num_kv_heads != pair->num_heads;
  if (!grouped) return (at::pow(act, choice.alpha) / at::pow(weight, choice.beta)).clamp_min(1e-5);
  // Reduced by max over the heads that share a kv head, before the formula.
  const std::int64_t group = pair->num_heads / pair->num_kv_heads;
  act = act.reshape({pair->num_kv_heads, group, pair->head_dim}).amax(1);
  weight = weight.reshape({pair->num_kv_heads, group, pair->head_dim}).amax(1);
  const at::Tensor per_kv = (at::pow(act, choice.alpha) / at::pow(weight, choice.beta)).clamp_min(1e-5);
  return per_kv.repeat_interleave(group, 0).reshape({-1});
}

void FlexSmoothProcessor::postprocess(BlockRequest& /*request*/) {
  for (auto& entry : pending_) entry.recorder->detach();
  for (auto& entry : pending_) {
    if (!entry.recorder->seen()) continue;  // no calibration data reached it
    const FlexChoice choice = choose(entry, entry.recorder->rows());
    entry.subgraph.fuse(scales(entry, choice));
    const char* type = smoothing_search::subgraph_type_name(entry.subgraph.type);
    spdlog::debug("{}: {} ({}): alpha {} beta {}, relative output error {}", config_path_,
                  entry.subgraph.source, type, choice.alpha, choice.beta, choice.error);
    decisions_.push_back({entry.subgraph.source, type, choice});
  }
  pending_.clear();
}

std::vector<std::string> FlexSmoothProcessor::warnings() const {
  return selection_.warnings(config_path_);
}

std::unique_ptr<Processor> make_flex_smooth_quant(const ConfigNode& config) {
  return std::make_unique<FlexSmoothProcessor>(config, FlexKind::kFlexSmoothQuant);
}

std::unique_ptr<Processor> make_flex_awq_ssz(const ConfigNode& config) {
  return std::make_unique<FlexSmoothProcessor>(config, FlexKind::kFlexAwqSsz);
}

}  // namespace modelslim::flex_smooth
