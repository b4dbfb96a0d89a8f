#include "awq_processor.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "modelslim/expert_routing.hpp"

namespace modelslim::awq {
namespace {

using smoothing_search::SubgraphType;

std::vector<std::string> split(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', start)) {
    parts.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
  parts.push_back(name.substr(start));
  return parts;
}

bool inside(const Linear& linear, const std::string& ancestor) {
  return linear.name().rfind(ancestor + ".", 0) == 0;
}

// A mixture-of-experts module mixes its routed experts' outputs by the router's weights: no linear produces
// its output (its last linear is one expert's down_proj, which sees only that expert's tokens).
bool holds_routed_experts(Block& block, const std::string& ancestor) {
  ExpertRouting* routing = expert_routing(block);
  if (routing == nullptr) return false;
  for (const RoutedExpert& expert : routing->routed_experts()) {
    for (const Linear* linear : expert.linears)
      if (inside(*linear, ancestor)) return true;
  }
  return false;
}

// The last linear of the block (forward order) inside `ancestor` that is not scaled; nullptr when the
// ancestor holds routed experts (then the block's output is compared, whose change is the MoE output's).
Linear* output_linear_of(Block& block, const std::string& ancestor, const std::vector<Linear*>& scaled) {
  if (holds_routed_experts(block, ancestor)) return nullptr;
  Linear* found = nullptr;
  for (Linear* linear : block.linears()) {
    if (inside(*linear, ancestor) && std::find(scaled.begin(), scaled.end(), linear) == scaled.end())
      found = linear;
  }
  return found;
}

// Candidate scales as they will be applied: OV under grouped-query attention shares one scale per kv head
// channel (the mean over the heads of a group, as the fusion applies it).
at::Tensor as_applied(const smoothing_search::SmoothSubgraph& subgraph, const at::Tensor& scales) {
  if (subgraph.type != SubgraphType::kOV || subgraph.pair->num_kv_heads == subgraph.pair->num_heads)
    return scales;
  const auto& pair = *subgraph.pair;
  const std::int64_t group = pair.num_heads / pair.num_kv_heads;
  return scales.reshape({pair.num_kv_heads, group, pair.head_dim})
      .mean(1)
      .repeat_interleave(group, 0)
      .reshape({-1});
}

}  // namespace

std::string common_ancestor(const std::vector<std::string>& names) {
  if (names.size() == 1) return names.front();
  std::vector<std::string> common = split(names.front());
  for (const std::string& name : names) {
    const auto parts = split(name);
    std::size_t n = 0;
    while (n < common.size() && n < parts.size() && common[n] == parts[n]) ++n;
    common.resize(n);
  }
  std::string joined;
  for (const auto& part : common) joined += (joined.empty() ? "" : ".") + part;
  return joined;
}

AwqProcessor::AwqProcessor(const ConfigNode& config) : config_path_(config.path()), selection_(config) {
  config.check_keys({"type", "weight_qconfig", "n_grid", "enable_subgraph_type", "include", "exclude"});
  if (!config["weight_qconfig"].defined()) {
    config.fail(
        "awq needs 'weight_qconfig' (the weight quantizer the search evaluates, e.g. {scope: "
        "per_channel, dtype: int8, symmetric: true, method: minmax})");
  }
  weight_spec_ = smoothing_search::parse_weight_quantizer(config["weight_qconfig"]);
  const std::int64_t n_grid = config.get_int("n_grid", 20);
  if (n_grid < 1 || n_grid > 1000) config["n_grid"].fail("expected a positive grid size (at most 1000)");
  n_grid_ = static_cast<int>(n_grid);
}

void AwqProcessor::preprocess(BlockRequest& request) {
  pending_.clear();
  for (auto& subgraph : selection_.select(request.block)) {
    const std::vector<Linear*> targets = subgraph.targets();
    Pending entry{std::move(subgraph), std::make_unique<smoothing_search::InputRecorder>(*targets.front())};
    if (targets.size() > 1) {
      std::vector<std::string> names;
      for (const Linear* linear : targets) names.push_back(linear->name());
      entry.output_linear = output_linear_of(request.block, common_ancestor(names), targets);
    }
    pending_.push_back(std::move(entry));
  }
}

std::vector<at::Tensor> AwqProcessor::inspect(const Pending& entry, BlockRequest& request) const {
  std::vector<at::Tensor> outputs;
  const std::vector<Linear*> targets = entry.subgraph.targets();
  if (targets.size() == 1) {  // the ancestor is the linear itself: replay its recorded inputs
    for (const at::Tensor& x : entry.recorder->inputs()) outputs.push_back(targets.front()->float_forward(x));
    return outputs;
  }
  std::unique_ptr<smoothing_search::InputRecorder> capture;
  if (entry.output_linear != nullptr)
    capture = std::make_unique<smoothing_search::InputRecorder>(*entry.output_linear);
  for (const BlockInput& input : request.inputs) {
    const at::Tensor out = request.block.forward(input.hidden, *input.context);
    if (!capture) outputs.push_back(out.to(at::kFloat));
  }
  if (capture) {
    for (const at::Tensor& x : capture->inputs()) outputs.push_back(entry.output_linear->float_forward(x));
  }
  return outputs;
}

double AwqProcessor::candidate_loss(const Pending& entry, BlockRequest& request,
                                    const std::vector<at::Tensor>& golden, const at::Tensor& scales) const {
  std::vector<at::Tensor> originals;
  for (Linear* linear : entry.subgraph.targets()) {
    originals.push_back(linear->weight().clone());
    const at::Tensor s = scales.to(linear->weight().scalar_type()).unsqueeze(0);
    const at::Tensor quantized =
        smoothing_search::fake_quantize_weight(linear->weight().to(at::kFloat) * s, weight_spec_);
    linear->weight().copy_(quantized / s);
  }
  const std::vector<at::Tensor> outputs = inspect(entry, request);
  const auto targets = entry.subgraph.targets();
  for (std::size_t i = 0; i < targets.size(); ++i) targets[i]->weight().copy_(originals[i]);
  double sum = 0.0;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    sum += (outputs[i].to(at::kDouble) - golden[i].to(at::kDouble)).pow(2).sum().item<double>();
    count += outputs[i].numel();
  }
  return count > 0 ? sum / static_cast<double>(count) : std::numeric_limits<double>::infinity();
}

void AwqProcessor::process_subgraph(Pending& entry, BlockRequest& request) {
  const std::vector<at::Tensor> golden = inspect(entry, request);
  const AwqChoice choice = search_scales(
      entry.recorder->abs_mean(), n_grid_,
      [&](const at::Tensor& scales) { return candidate_loss(entry, request, golden, scales); },
      [&](const at::Tensor& scales) { return as_applied(entry.subgraph, scales); });
  const char* type = smoothing_search::subgraph_type_name(entry.subgraph.type);
  if (!choice.scales.defined()) {
    spdlog::warn("{}: {} ({}): no candidate scale had a finite loss; left unscaled", config_path_,
                 entry.subgraph.source, type);
    return;
  }
  entry.subgraph.fuse(choice.scales);
  spdlog::debug("{}: {} ({}): ratio {}, loss {}", config_path_, entry.subgraph.source, type, choice.ratio,
                choice.loss);
  decisions_.push_back({entry.subgraph.source, type, choice.ratio, choice.loss});
}

void AwqProcessor::postprocess(BlockRequest& request) {
  for (auto& entry : pending_) entry.recorder->detach();
  for (auto& entry : pending_) {
    if (entry.recorder->seen()) process_subgraph(entry, request);  // else no calibration data reached it
  }
  pending_.clear();
}

std::vector<std::string> AwqProcessor::warnings() const {
  return selection_.warnings(config_path_);
}

std::unique_ptr<Processor> make_awq(const ConfigNode& config) {
  return std::make_unique<AwqProcessor>(config);
}

}  // namespace modelslim::awq
