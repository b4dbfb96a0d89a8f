#include "cbq_processor.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "cbq_outlier.hpp"

namespace modelslim::cbq {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// AntiOutlier._process skips a subgraph when any of its linears is an expert.
bool feeds_experts(const NormLinearSubgraph& subgraph) {
  return std::any_of(subgraph.linears.begin(), subgraph.linears.end(),
                     [](const Linear* l) { return lower(l->name()).find("expert") != std::string::npos; });
}

}  // namespace

CbqProcessor::CbqProcessor(const ConfigNode& config)
    : filter_(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {})),
      config_path_(config.path()) {
  config.check_keys({"type", "alpha", "smooth_rate", "include", "exclude"});
  alpha_ = config.get_double("alpha", 1.5);
  if (!(alpha_ >= 0.0 && alpha_ <= 100.0))
    config["alpha"].fail(
        "must be in [0, 100] (the IQR multiple of the coarse outlier bound; 1.5 as the reference)");
  smooth_rate_ = config.get_double("smooth_rate", 0.7);
  if (!(smooth_rate_ > 0.0 && smooth_rate_ <= 1.0))
    config["smooth_rate"].fail("must be in (0, 1] (the exponent of the outlier ratio; 0.7 as the reference)");
}

void CbqProcessor::preprocess(BlockRequest& request) {
  pending_.clear();
  for (auto& subgraph : request.block.norm_linear_subgraphs()) {
    const std::string source = subgraph.norm.substr(0, subgraph.norm.rfind(".weight"));
    if (subgraph.linears.empty() || feeds_experts(subgraph) || !filter_.selects(source)) continue;
    auto observer = std::make_unique<ChannelRangeObserver>(*subgraph.linears.front());
    pending_.push_back({std::move(subgraph), std::move(observer)});
  }
}

void CbqProcessor::postprocess(BlockRequest& request) {
  if (request.communicator != nullptr) {
    for (auto& entry : pending_) entry.observer->synchronize(*request.communicator);
  }
  for (auto& entry : pending_) {
    entry.observer->detach();
    if (!entry.observer->seen()) continue;  // no calibration data reached it
    const at::Tensor scales =
        outlier_scales(entry.observer->min(), entry.observer->max(), alpha_, smooth_rate_);
    const std::string norm = entry.subgraph.norm.substr(0, entry.subgraph.norm.rfind(".weight"));
    const Decision decision{norm, scaled_channels(scales), scales.max().item<double>()};
    spdlog::debug("cbq {}: {} outlier channels, largest scale {:.4g}", norm, decision.scaled_channels,
                  decision.max_scale);
    if (decision.scaled_channels > 0) fuse_norm_linear_scales(entry.subgraph, scales);
    decisions_.push_back(decision);
  }
  pending_.clear();
}

std::vector<std::string> CbqProcessor::warnings() const {
  std::vector<std::string> messages;
  for (const auto& pattern : filter_.unmatched_patterns())
    messages.push_back(config_path_ + ": pattern '" + pattern + "' matched no norm-linear subgraph");
  return messages;
}

}  // namespace modelslim::cbq
