#include "fa3_quant.hpp"

#include <ATen/ATen.h>

#include <limits>

#include "modelslim/error.hpp"
#include "modelslim/model_adapter.hpp"

namespace modelslim::fa3 {
namespace {

constexpr const char* kBranches[kAttentionInputs] = {"fa_q", "fa_k", "fa_v"};

// One reference QConfig: {dtype, scope, symmetric, method, ext}; int8 symmetric min/max only.
Fa3Scope parse_qconfig(const ConfigNode& node) {
  node.require_map();
  node.check_keys({"dtype", "scope", "symmetric", "method", "ext"});
  const std::string dtype = node.get_string("dtype", "int8");
  if (dtype != "int8") {
    node["dtype"].fail("fa3_quant supports dtype int8 only, got '" + dtype +
                       "' (FP8/MXFP attention inputs need an Ascend A5 kernel modelslim does not model)");
  }
  if (!node.get_bool("symmetric", true)) node["symmetric"].fail("fa3_quant supports symmetric: true only");
  const std::string method = node.get_string("method", "minmax");
  if (method != "minmax") node["method"].fail("fa3_quant supports method: minmax only, got '" + method + "'");
  if (node.has("ext") && node["ext"].defined()) node["ext"].require_map();
  const std::string scope = node.get_choice("scope", {"per_head", "per_token"}, "per_head");
  return scope == "per_head" ? Fa3Scope::kPerHead : Fa3Scope::kPerToken;
}

void merge(at::Tensor& into, const at::Tensor& value, bool lower) {
  into = !into.defined() ? value : (lower ? at::minimum(into, value) : at::maximum(into, value));
}

}  // namespace

Fa3Quant::Fa3Quant(const ConfigNode& config)
    : filter_(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {})),
      config_path_(config.path()) {
  config.check_keys({"type", "qconfig", "include", "exclude", "details"});
  const bool has_qconfig = config.has("qconfig") && config["qconfig"].defined();
  const bool has_details = config.has("details") && config["details"].defined();
  if (has_qconfig && has_details) {
    config["details"].fail("fa3_quant takes one of qconfig and details, not both");
  }
  if (has_details) {
    const ConfigNode details = config["details"];
    details.require_map();
    details.check_keys({"fa_q", "fa_k", "fa_v"});
    for (std::size_t i = 0; i < kAttentionInputs; ++i) {
      if (details.has(kBranches[i]) && details[kBranches[i]].defined())
        scopes_[i] = parse_qconfig(details[kBranches[i]]);
    }
  } else {
    const Fa3Scope scope = has_qconfig ? parse_qconfig(config["qconfig"]) : Fa3Scope::kPerHead;
    scopes_.fill(scope);
  }
}

bool Fa3Quant::is_data_free() const {
  for (const auto& scope : scopes_) {
    if (scope == Fa3Scope::kPerHead) return false;
  }
  return true;
}

void Fa3Quant::preprocess(BlockRequest& request) {
  pending_.clear();
  preprocessed_ = true;
  auto* source = dynamic_cast<AttentionQuantSource*>(&request.block);
  // A block without attention (DeepSeek's MTP layer) is skipped; post_run checks the model had some.
  if (source == nullptr) return;
  for (AttentionQuantPoint& point : source->attention_quant_points()) {
    saw_attention_ = true;
    if (!filter_.selects(point.module)) continue;
    pending_.push_back(std::make_unique<Pending>(Pending{std::move(point), {}}));
    observe(*pending_.back());
  }
}

// Static inputs get an observer hook (it returns its input unchanged); dynamic ones need no data.
void Fa3Quant::observe(Pending& pending) {
  for (std::size_t i = 0; i < kAttentionInputs; ++i) {
    pending.point.slots->quant[i].reset();
    pending.point.slots->hooks[i] = nullptr;
    if (scopes_[i] != Fa3Scope::kPerHead) continue;
    Range& range = pending.ranges[i];
    const double ratio = pending.point.recall_ratio[i];
    pending.point.slots->hooks[i] = [&range, ratio](const at::Tensor& x) {
      const auto [lo, hi] = recall_window_per_head(x, ratio);
      merge(range.lo, lo, true);
      merge(range.hi, hi, false);
      return x;
    };
  }
}

void Fa3Quant::postprocess(BlockRequest& request) {
  for (const auto& pending : pending_) {
    AttentionQuantSlots& slots = *pending->point.slots;
    for (std::size_t i = 0; i < kAttentionInputs; ++i) {
      slots.hooks[i] = nullptr;
      if (!scopes_[i]) continue;
      if (*scopes_[i] == Fa3Scope::kPerToken) {
        slots.quant[i] = AttentionInputQuant{true, {}};
        continue;
      }
      Range& range = pending->ranges[i];
      if (request.communicator != nullptr) {
        if (!range.lo.defined()) {  // this rank saw no sample: neutral elements for min/max
          const auto heads = pending->point.heads[i];
          range.lo = at::full({heads}, std::numeric_limits<float>::infinity());
          range.hi = at::full({heads}, -std::numeric_limits<float>::infinity());
        }
        request.communicator->all_reduce(range.lo, ReduceOp::kMin);
        request.communicator->all_reduce(range.hi, ReduceOp::kMax);
      }
      if (!range.lo.defined() || !at::isfinite(range.lo).all().item<bool>()) {
        throw Error(ErrorCode::kSpec,
                    config_path_ + ": " + pending->point.module + "." + kBranches[i] +
                        " collected no calibration data",
                    "give a calibration set, or use scope: per_token (dynamic, data-free)");
      }
      slots.quant[i] = AttentionInputQuant{false, int8_symmetric_scale(range.lo, range.hi)};
    }
    install_attention_quant(pending->point);
  }
  pending_.clear();
}

void Fa3Quant::post_run(RunContext& context) {
  if (saw_attention_ || !preprocessed_) return;  // blocks reused from a tuning cache were seen before
  throw Error(
      ErrorCode::kUnsupported,
      config_path_ + ": no block of this " + context.model.model_type() +
          " model exposes its attention inputs (the model adapter implements no AttentionQuantSource)",
      "fa3_quant works on the llama family and MoE models (MHA/GQA) and deepseek (MLA); remove it");
}

std::vector<std::string> Fa3Quant::warnings() const {
  std::vector<std::string> messages;
  for (const auto& pattern : filter_.unmatched_patterns()) {
    messages.push_back(config_path_ + ": pattern '" + pattern + "' matched no attention module");
  }
  return messages;
}

}  // namespace modelslim::fa3
