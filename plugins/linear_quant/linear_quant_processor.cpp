#include "linear_quant_processor.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "fake_quant_linear.hpp"
#include "modelslim/error.hpp"
#include "modelslim/expert_routing.hpp"
#include "modelslim/finite.hpp"
#include "modelslim/fused_module_source.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/quant_math.hpp"
#include "range_ranking.hpp"

namespace modelslim::linear_quant {

LinearQuantProcessor::LinearQuantProcessor(const ConfigNode& config)
    : config_([&] {
        config.check_keys(
            {"type", "qconfig", "include", "exclude", "disable_level", "all_experts_calibration"});
        if (!config.has("qconfig")) config.fail("missing required field 'qconfig'");
        return parse_qconfig(config["qconfig"]);
      }()),
      filter_(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {})),
      config_path_(config.path()),
      all_experts_calibration_(config.has("all_experts_calibration")
                                   ? config["all_experts_calibration"].as_bool()
                                   : config_.act_mode() == ActivationQuantMode::kStaticPerTensor) {
  if (config.has("disable_level")) {
    const ConfigNode level = config["disable_level"];
    disable_level_ = parse_disable_level(level.as_string(), level.location() + ": " + level.path());
  }
}

void LinearQuantProcessor::prepass(ModelAdapter& model, const std::vector<BlockInput>& samples) {
  if (disable_level_ == 0) return;
  if (samples.empty()) {
    throw Error(ErrorCode::kInvalidDataset,
                config_path_ + ".disable_level: no calibration samples to rank the linears by range_parm");
  }
  NameFilter probe = filter_;  // the run's own filter keeps its "matched nothing" bookkeeping
  const auto scores =
      range_parm_of_linears(model, samples, [&](const std::string& name) { return probe.selects(name); });
  rolled_back_ = top_by_range_parm(scores, disable_level_);
  ranked_ = true;
  std::string names;
  for (const std::string& name : rolled_back_) names += "\n\t" + name;
  spdlog::info("{}: disable_level L{}: of {} linears, automatically disabled layer names are:{}",
               config_path_, disable_level_, scores.size(), names);
}

namespace {

// An observed input range that is not finite: the calibration forward overflowed (or read a NaN). The
// block forward adds the block and the calibration sample (run_block_forward).
void require_finite_range(const std::string& linear, const at::Tensor& min, const at::Tensor& max) {
  const double mn = min.item<double>();
  const double mx = max.item<double>();
  if (std::isfinite(mn) && std::isfinite(mx)) return;
  throw Error(ErrorCode::kInvalidModel,
              "the input of " + linear + " holds non-finite values (observed range [" + std::to_string(mn) +
                  ", " + std::to_string(mx) + "]), so no activation scale exists",
              "the model overflows float32 on this calibration text or holds damaged weights; check the "
              "checkpoint (a float16 overflow shows as inf) or leave this layer out of static quantization");
}

// Weight scales (and static input scales) must be finite: a NaN scale makes every integer undefined.
void require_finite_scale(const std::string& what, const at::Tensor& scale, const at::Tensor& values) {
  if (!find_non_finite(scale)) return;
  const auto bad = find_non_finite(values);
  throw Error(ErrorCode::kInvalidModel,
              what + " holds " + (bad ? describe_non_finite(values, *bad) : std::string("values")) +
                  " that give a non-finite quantization scale",
              "an earlier processor (smoothing, rotation) or the checkpoint produced it; check both");
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& name) {
  for (const std::string& pattern : patterns) {
    for (const std::string& expanded : expand_braces(pattern)) {
      if (glob_match(expanded, name)) return true;
    }
  }
  return false;
}

}  // namespace

std::set<std::string> LinearQuantProcessor::select(Block& block) {
  std::set<std::string> selected;
  const std::set<std::string> rolled(rolled_back_.begin(), rolled_back_.end());
  for (const Linear* linear : block.linears()) {
    if (filter_.selects(linear->name()) && rolled.count(linear->name()) == 0) selected.insert(linear->name());
  }
  // An exclusion of one part of a fused module (a fallback of q_proj) keeps the whole module in float:
  // vLLM and vllm-ascend load it as one layer with one scheme (docs/savers.md).
  const auto fallbacks = fused_fallbacks(
      block_fused_modules(block), [&](const std::string& name) { return selected.count(name) > 0; },
      [&](const std::string& name) {
        return matches_any(filter_.exclude(), name) || rolled.count(name) > 0;
      });
  for (const FusedFallback& fallback : fallbacks) {
    spdlog::info("{}: {}", config_path_, describe_fused_fallback(fallback));
    for (const std::string& name : fallback.extended) selected.erase(name);
  }
  return selected;
}

void LinearQuantProcessor::preprocess(BlockRequest& request) {
  if (disable_level_ > 0 && !ranked_) {
    throw Error(
        ErrorCode::kUnsupported,
        config_path_ + ".disable_level: the host did not run the range_parm ranking before the blocks",
        "put this linear_quant directly in spec.process (a group's children get no prepass)");
  }
  selected_.clear();
  observers_.clear();
  observer_ids_.clear();
  const std::set<std::string> selected = select(request.block);
  for (Linear* linear : request.block.linears()) {
    if (selected.count(linear->name()) == 0) continue;
    selected_.push_back(linear);
    if (config_.act_mode() != ActivationQuantMode::kStaticPerTensor) continue;
    auto observer = std::make_shared<RangeObserver>();
    if (config_.act->method != "minmax") observer->histogram = std::make_shared<HistogramObserver>();
    const bool mean = config_.act->aggregation == "mean";
    observer_ids_[linear->name()] =
        linear->add_observer([observer, mean, name = linear->name()](const at::Tensor& input) {
          const at::Tensor x = input.detach().to(at::kFloat);
          const auto [mn, mx] = at::aminmax(x);  // one pass over the input instead of two
          // NaN propagates into min and max, ±Inf reaches one of them: no extra pass over the input.
          require_finite_range(name, mn, mx);
          if (observer->histogram) observer->histogram->update(x);
          // As the reference's get_features(calib_data[:5]): one observed call is one sample.
          if (observer->range.batches() < kRangeParamSamples) observer->range.update(x);
          if (observer->batches == 0) {
            observer->min = mn;
            observer->max = mx;
          } else if (mean) {
            observer->min = observer->min + mn;
            observer->max = observer->max + mx;
          } else {
            observer->min = at::minimum(observer->min, mn);
            observer->max = at::maximum(observer->max, mx);
          }
          ++observer->batches;
        });
    observers_[linear->name()] = observer;
  }
  start_expert_calibration(request.block);
}

void LinearQuantProcessor::start_expert_calibration(Block& block) {
  routed_before_.clear();
  ExpertRouting* routing = expert_routing(block);
  if (routing == nullptr || routing->routed_experts().empty()) return;
  routed_before_ = routing->routed_token_counts();
  // Every token through every expert costs top_k/num_experts more expert compute: only when this config
  // observes an expert linear (a static scheme over the attention alone gains nothing from it).
  routing_all_experts_ = false;
  if (all_experts_calibration_) {
    for (const RoutedExpert& expert : routing->routed_experts()) {
      for (const Linear* linear : expert.linears)
        routing_all_experts_ = routing_all_experts_ || observers_.count(linear->name()) > 0;
    }
  }
  routing->set_calibrate_all_experts(routing_all_experts_);
}

std::map<std::string, std::string> LinearQuantProcessor::finish_expert_calibration(Block& block) {
  std::map<std::string, std::string> expert_of;
  ExpertRouting* routing = expert_routing(block);
  if (routing == nullptr || routed_before_.empty()) return expert_of;
  routing->set_calibrate_all_experts(false);
  const std::vector<RoutedExpert> experts = routing->routed_experts();
  const std::vector<std::int64_t> counts = routing->routed_token_counts();
  std::string text;
  std::int64_t routed = 0;
  for (std::size_t e = 0; e < experts.size() && e < counts.size(); ++e) {
    const std::int64_t tokens = counts[e] - (e < routed_before_.size() ? routed_before_[e] : 0);
    routed += tokens;
    text += (e ? " " : "") + std::to_string(tokens);
    for (const Linear* linear : experts[e].linears) expert_of[linear->name()] = experts[e].name;
  }
  // Data-free runs (no forward) have nothing to report.
  if (routed > 0 || !observers_.empty())
    spdlog::info("{}: calibration tokens per expert: [{}]{}", block.name(), text,
                 routing_all_experts_ ? " (every token also ran through every expert for statistics)" : "");
  routed_before_.clear();
  return expert_of;
}

bool LinearQuantProcessor::support_distributed() const {
  if (disable_level_ > 0) return false;  // the ranking would see only this rank's samples
  if (config_.act_mode() != ActivationQuantMode::kStaticPerTensor) return true;
  return config_.act->method == "minmax" && config_.act->aggregation != "mean";
}

void LinearQuantProcessor::synchronize(Communicator& communicator) {
  const double inf = std::numeric_limits<double>::infinity();
  for (Linear* linear : selected_) {
    const auto found = observers_.find(linear->name());
    if (found == observers_.end()) continue;  // the same on every rank: selection and mode are config
    RangeObserver& observer = *found->second;
    at::Tensor batches = at::tensor({static_cast<double>(observer.batches)}, at::kDouble);
    at::Tensor mn = observer.batches > 0 ? observer.min.reshape({1}).clone() : at::full({1}, inf, at::kFloat);
    at::Tensor mx =
        observer.batches > 0 ? observer.max.reshape({1}).clone() : at::full({1}, -inf, at::kFloat);
    communicator.all_reduce(batches, ReduceOp::kSum);
    communicator.all_reduce(mn, ReduceOp::kMin);
    communicator.all_reduce(mx, ReduceOp::kMax);
    observer.batches = static_cast<std::int64_t>(batches.item<double>());
    if (observer.batches > 0) {
      observer.min = mn.reshape({});
      observer.max = mx.reshape({});
    }
  }
}

void LinearQuantProcessor::postprocess(BlockRequest& request) {
  // Weights: on one process each is quantized here; under dp_layer_wise rank r quantizes linears r, r+n, ...
  // and the results are broadcast, so the work is split and every rank ends with the same integers.
  std::vector<QuantizedWeight> weights(selected_.size());
  if (request.communicator != nullptr) {
    Communicator& communicator = *request.communicator;
    synchronize(communicator);
    for (std::size_t i = 0; i < selected_.size(); ++i) {
      if (i % communicator.world_size() == communicator.rank()) weights[i] = quantize_weight(*selected_[i]);
    }
    for (std::size_t i = 0; i < selected_.size(); ++i) {
      const std::size_t owner = i % communicator.world_size();
      weights[i].qweight = broadcast_tensor(communicator, weights[i].qweight, owner);
      weights[i].scale = broadcast_tensor(communicator, weights[i].scale, owner);
      weights[i].offset = broadcast_tensor(communicator, weights[i].offset, owner);
    }
  } else {
    for (std::size_t i = 0; i < selected_.size(); ++i) weights[i] = quantize_weight(*selected_[i]);
  }
  const std::map<std::string, std::string> expert_of = finish_expert_calibration(request.block);
  for (std::size_t i = 0; i < selected_.size(); ++i) {
    Linear* linear = selected_[i];
    auto observer = observers_.find(linear->name());
    if (observer != observers_.end()) linear->remove_observer(observer_ids_.at(linear->name()));
    // An expert no calibration token reached has no activation range: dynamic per-token, never a scale
    // from an empty range. (With all_experts_calibration every token reaches it.)
    const auto expert = expert_of.find(linear->name());
    if (observer != observers_.end() && observer->second->batches == 0 && expert != expert_of.end()) {
      spdlog::warn(
          "{}: no calibration token reached expert {} (all_experts_calibration: false), so {} falls "
          "back to dynamic per-token activation quantization",
          config_path_, expert->second, linear->name());
      observer = observers_.end();
    }
    if (linear->quantized()) {
      spdlog::warn("{}: {} was already quantized by an earlier processor; quantizing it again", config_path_,
                   linear->name());
    }
    const bool uncovered = observer == observers_.end() && expert != expert_of.end() &&
                           config_.act_mode() == ActivationQuantMode::kStaticPerTensor;
    auto quantized = quantize(*linear, observer == observers_.end() ? nullptr : observer->second.get(),
                              std::move(weights[i]), uncovered);
    linear->set_compute(std::make_shared<FakeQuantLinear>(quantized));
    linear->set_quantized(std::move(quantized));
  }
  selected_.clear();
  observers_.clear();
}

QuantizedWeight LinearQuantProcessor::quantize_weight(const Linear& linear) const {
  const QuantizerConfig& w = config_.weight;
  try {
    return w.method == "ssz" ? quantize_weight_ssz(linear.weight(), w.bits(), w.symmetric, w.ssz_steps)
                             : quantize_weight_minmax(linear.weight(), w.bits(), w.symmetric,
                                                      w.scope == "per_group" ? w.group_size : 0);
  } catch (const Error& error) {
    // Shape problems (e.g. a group_size that does not divide in_features) and non-finite weights only show
    // per module.
    throw Error(error.code(), config_path_ + ".qconfig.weight: " + linear.name() + ".weight: " + error.what(),
                !error.tip().empty() ? error.tip()
                                     : "choose an ext.group_size that divides every selected layer's "
                                       "in_features, or exclude the layer");
  }
}

std::shared_ptr<const QuantizedLinear> LinearQuantProcessor::quantize(const Linear& linear,
                                                                      const RangeObserver* observer,
                                                                      QuantizedWeight weight,
                                                                      bool dynamic_fallback) const {
  auto result = std::make_shared<QuantizedLinear>();
  const QuantizerConfig& w = config_.weight;
  result->weight_bits = w.bits();
  result->weight_symmetric = w.symmetric;
  result->group_size = w.scope == "per_group" ? w.group_size : 0;
  result->qweight = weight.qweight;
  result->weight_scale = weight.scale;
  result->weight_offset = weight.offset;
  if (linear.bias()) result->bias = linear.bias()->to(at::kFloat);
  result->act_mode = dynamic_fallback ? ActivationQuantMode::kDynamicPerToken : config_.act_mode();
  if (config_.act) {
    result->act_bits = config_.act->bits();
    result->act_symmetric = config_.act->symmetric || dynamic_fallback;  // per-token scales are symmetric
  }
  if (result->act_mode == ActivationQuantMode::kStaticPerTensor) {
    if (observer == nullptr || observer->batches == 0) {
      throw Error(
          ErrorCode::kUnexpected,
          config_path_ + ": no calibration data reached " + linear.name() +
              ", so its static activation scale cannot be computed",
          "check that the calibration dataset is not empty and that the layer is used in the forward");
    }
    const double batches = static_cast<double>(observer->batches);
    const bool mean = config_.act->aggregation == "mean";
    at::Tensor mn = mean ? observer->min / batches : observer->min;
    at::Tensor mx = mean ? observer->max / batches : observer->max;
    // The reference logs range_parm for every activation quantizer ("use histogram observer:<name>,
    // range_parm:<value>"); hybrid picks the observer by it.
    const double range_parm = observer->range.value();
    const bool histogram = config_.act->method == "histogram" ||
                           (config_.act->method == "hybrid" && range_parm <= kHybridRangeParamThreshold);
    spdlog::info("{}: use {} observer:{}, range_parm:{}", config_path_, histogram ? "histogram" : "min-max",
                 linear.name(), range_parm);
    if (histogram) {
      // The observer refused non-finite inputs before they reached the histogram.
      if (observer->histogram->empty()) {
        throw Error(ErrorCode::kUnexpected,
                    config_path_ + ": " + linear.name() + " saw only non-finite activations");
      }
      const ClipRange clip = observer->histogram->search_clip(result->act_bits, config_.act->symmetric);
      mn = at::tensor(clip.min, at::kFloat);
      mx = at::tensor(clip.max, at::kFloat);
    }
    const ScaleOffset params =
        minmax_scale_offset(mn.reshape({1}), mx.reshape({1}), result->act_bits, config_.act->symmetric);
    require_finite_scale(config_path_ + ": the input range of " + linear.name(), params.scale,
                         at::stack({mn.reshape({}), mx.reshape({})}));
    result->input_scale = params.scale;
    result->input_offset = params.offset;
  }
  if (config_.scheme == Scheme::kW8A8Mix && !dynamic_fallback) {
    // W8A8_MIX: the static params above are for decode; calibration forwards and prefill quantize per
    // token (ActPDMixMinmax), so the compute is dynamic and the input_scale marks the mix for savers.
    result->act_mode = ActivationQuantMode::kDynamicPerToken;
    result->act_symmetric = true;
  }
  return result;
}

std::vector<std::string> LinearQuantProcessor::warnings() const {
  std::vector<std::string> messages;
  for (const auto& pattern : filter_.unmatched_patterns()) {
    messages.push_back(config_path_ + ": pattern '" + pattern + "' matched no linear layer");
  }
  return messages;
}

}  // namespace modelslim::linear_quant
