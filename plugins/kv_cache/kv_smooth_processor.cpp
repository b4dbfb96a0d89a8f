#include "kv_smooth_processor.hpp"

#include <ATen/ATen.h>

#include "modelslim/error.hpp"
#include "modelslim/kv_cache_quant.hpp"
#include "modelslim/model_adapter.hpp"

namespace modelslim::dynamic_cache {
namespace {

NameFilter make_smooth_filter(const ConfigNode& config) {
  return NameFilter(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {}));
}

// The block's own tensor (in-place updates change the block), undefined when absent.
at::Tensor parameter(const Block& block, const std::string& name) {
  for (const NamedTensor& entry : block.other_parameters()) {
    if (entry.name == name) return entry.tensor;
  }
  return {};
}

Linear& linear_of(Block& block, const std::string& name) {
  Linear* linear = block.find_linear(name);
  if (linear == nullptr) {
    throw Error(ErrorCode::kUnsupported, "kv_smooth: block " + block.name() + " has no linear " + name,
                "kv_smooth needs the attention's q_proj and k_proj");
  }
  if (linear->quantized()) {
    throw Error(ErrorCode::kSpec, "kv_smooth: " + name + " is already quantized",
                "put kv_smooth before linear_quant in spec.process");
  }
  return *linear;
}

void scale_rows(Linear& linear, const at::Tensor& row_scale, bool divide) {
  const at::Tensor s = row_scale.reshape({-1}).to(linear.weight().scalar_type());
  if (divide) {
    linear.weight().div_(s.unsqueeze(1));
    if (linear.bias()) linear.bias()->div_(s.to(linear.bias()->scalar_type()));
  } else {
    linear.weight().mul_(s.unsqueeze(1));
    if (linear.bias()) linear.bias()->mul_(s.to(linear.bias()->scalar_type()));
  }
}

}  // namespace

at::Tensor kv_smooth_scales(const at::Tensor& key_abs_max, double factor, bool shared_over_heads) {
  const std::int64_t heads = key_abs_max.size(0);
  const std::int64_t half = key_abs_max.size(1) / 2;
  at::Tensor pair = std::get<0>(key_abs_max.reshape({heads, 2, half}).max(1));  // [heads, half]
  if (shared_over_heads) pair = std::get<0>(pair.max(0, true));                 // [1, half]
  // A channel that never saw a key (all zero) keeps scale 1 rather than dividing by zero.
  pair = at::where(pair > 0, pair.pow(factor), at::ones_like(pair));
  const at::Tensor full = at::cat({pair, pair}, 1);  // (d, d + half) share their scale
  return shared_over_heads ? full.reshape({-1}) : full;
}

KvSmoothProcessor::KvSmoothProcessor(const ConfigNode& config)
    : config_path_(config.path()), filter_(make_smooth_filter(config)) {
  config.check_keys({"type", "smooth_factor", "include", "exclude"});
  smooth_factor_ = config.get_double("smooth_factor", 1.0);
  if (!(smooth_factor_ > 0.0)) config["smooth_factor"].fail("expected a number > 0");
}

void KvSmoothProcessor::pre_run(RunContext& context) {
  model_type_ = context.model.model_type();
}

void KvSmoothProcessor::preprocess(BlockRequest& request) {
  auto* access = dynamic_cast<KvCacheAccess*>(&request.block);
  if (access == nullptr) {
    throw Error(
        ErrorCode::kUnsupported,
        config_path_ + " (kv_smooth): block " + request.name + " of model type '" + model_type_ +
            "' does not expose the keys its attention caches (KvCacheAccess)",
        "kv_smooth is supported for the llama adapter's models (llama, qwen2, qwen3, mistral) and the moe "
        "adapter's (qwen3_moe, qwen2_moe, mixtral); remove it for this model");
  }
  key_abs_max_.reset();
  if (!filter_.selects(access->attention_module())) return;
  auto abs_max = std::make_shared<at::Tensor>();
  access->set_kv_observer([abs_max](const at::Tensor& key, const at::Tensor&) {
    // [batch, kv_heads, seq, dim] → [kv_heads, dim]
    const at::Tensor current = std::get<0>(key.abs().to(at::kFloat).amax(2).max(0));
    *abs_max = abs_max->defined() ? at::maximum(*abs_max, current) : current;
  });
  key_abs_max_ = abs_max;
}

void KvSmoothProcessor::postprocess(BlockRequest& request) {
  auto* access = dynamic_cast<KvCacheAccess*>(&request.block);
  if (access == nullptr || !key_abs_max_) return;
  access->set_kv_observer({});
  const at::Tensor abs_max = *std::move(key_abs_max_);
  key_abs_max_.reset();
  const std::string attention = access->attention_module();
  if (!abs_max.defined()) {
    throw Error(ErrorCode::kInvalidDataset,
                config_path_ + " (kv_smooth): no calibration sample reached " + attention,
                "give the run a calibration dataset");
  }
  Block& block = request.block;
  at::Tensor k_norm = parameter(block, attention + ".k_norm.weight");
  at::Tensor q_norm = parameter(block, attention + ".q_norm.weight");
  if (k_norm.defined() && q_norm.defined()) {  // the reference's StateViaRopeToNorm
    const at::Tensor s = kv_smooth_scales(abs_max, smooth_factor_, true);
    k_norm.div_(s.to(k_norm.scalar_type()));
    q_norm.mul_(s.to(q_norm.scalar_type()));
    return;
  }
  // StateViaRopeToLinear: query head h reads kv head h / (heads / kv_heads).
  const at::Tensor s = kv_smooth_scales(abs_max, smooth_factor_, false);  // [kv_heads, dim]
  Linear& k_proj = linear_of(block, attention + ".k_proj");
  Linear& q_proj = linear_of(block, attention + ".q_proj");
  const std::int64_t groups = q_proj.out_features() / k_proj.out_features();
  scale_rows(k_proj, s, true);
  scale_rows(q_proj, s.repeat_interleave(groups, 0), false);
}

std::vector<std::string> KvSmoothProcessor::warnings() const {
  std::vector<std::string> result;
  for (const std::string& pattern : filter_.unmatched_patterns()) {
    result.push_back(config_path_ + ": pattern '" + pattern + "' matched no attention module");
  }
  return result;
}

std::unique_ptr<Processor> make_kv_smooth(const ConfigNode& config) {
  return std::make_unique<KvSmoothProcessor>(config);
}

}  // namespace modelslim::dynamic_cache
