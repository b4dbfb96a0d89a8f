#include "dynamic_cache_processor.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include "modelslim/error.hpp"
#include "modelslim/kv_cache_quant.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/quant_math.hpp"

namespace modelslim::dynamic_cache {
namespace {

// The reference accepts per_channel int8 minmax only (its processor raises otherwise).
bool parse_qconfig(const ConfigNode& qconfig) {
  if (!qconfig.defined())
    qconfig.fail("missing: dynamic_cache needs qconfig {scope: per_channel, dtype: int8}");
  qconfig.require_map();
  qconfig.check_keys({"scope", "dtype", "symmetric", "method"});
  qconfig.get_choice("scope", {"per_channel"}, "per_channel");
  qconfig.get_choice("dtype", {"int8"}, "int8");
  qconfig.get_choice("method", {"minmax"}, "minmax");
  return qconfig.get_bool("symmetric", true);
}

NameFilter make_filter(const ConfigNode& config) {
  const auto include = config.get_string_list("include", {});
  return NameFilter(include.empty() ? std::vector<std::string>{"*"} : include,
                    config.get_string_list("exclude", {}));
}

void widen(at::Tensor& min, at::Tensor& max, const at::Tensor& states) {
  const at::Tensor rows = kv_cache_channels(states);
  const at::Tensor lo = std::get<0>(rows.min(0));
  const at::Tensor hi = std::get<0>(rows.max(0));
  min = min.defined() ? at::minimum(min, lo) : lo;
  max = max.defined() ? at::maximum(max, hi) : hi;
}

}  // namespace

DynamicCacheProcessor::DynamicCacheProcessor(const ConfigNode& config)
    : config_path_(config.path()), filter_(make_filter(config)) {
  config.check_keys({"type", "qconfig", "include", "exclude"});
  symmetric_ = parse_qconfig(config["qconfig"]);
}

void DynamicCacheProcessor::pre_run(RunContext& context) {
  model_type_ = context.model.model_type();
}

void DynamicCacheProcessor::preprocess(BlockRequest& request) {
  auto* access = dynamic_cast<KvCacheAccess*>(&request.block);
  if (access == nullptr) {
    throw Error(ErrorCode::kUnsupported,
                config_path_ + " (dynamic_cache): block " + request.name + " of model type '" + model_type_ +
                    "' does not expose the keys and values its attention caches (KvCacheAccess)",
                "int8 KV cache is supported for the llama adapter's models (llama, qwen2, qwen3, mistral) "
                "and the moe "
                "adapter's (qwen3_moe, qwen2_moe, mixtral); remove dynamic_cache for this model");
  }
  range_.reset();
  if (!filter_.selects(access->attention_module())) return;
  auto range = std::make_shared<Range>();
  access->set_kv_observer([range](const at::Tensor& key, const at::Tensor& value) {
    widen(range->key_min, range->key_max, key);
    widen(range->value_min, range->value_max, value);
  });
  range_ = range;
}

void DynamicCacheProcessor::postprocess(BlockRequest& request) {
  auto* access = dynamic_cast<KvCacheAccess*>(&request.block);
  if (access == nullptr || !range_) return;
  access->set_kv_observer({});
  const std::shared_ptr<Range> range = std::move(range_);
  if (!range->key_min.defined()) {
    throw Error(
        ErrorCode::kInvalidDataset,
        config_path_ + " (dynamic_cache): no calibration sample reached " + access->attention_module(),
        "give the run a calibration dataset");
  }
  const ScaleOffset key = minmax_scale_offset(range->key_min, range->key_max, 8, symmetric_);
  const ScaleOffset value = minmax_scale_offset(range->value_min, range->value_max, 8, symmetric_);
  access->set_kv_cache_quant(KvCacheQuantParams{key.scale, key.offset, value.scale, value.offset});
  spdlog::debug("dynamic_cache: {} int8 KV cache over {} channels", access->attention_module(),
                key.scale.numel());
}

std::vector<std::string> DynamicCacheProcessor::warnings() const {
  std::vector<std::string> result;
  for (const std::string& pattern : filter_.unmatched_patterns()) {
    result.push_back(config_path_ + ": pattern '" + pattern + "' matched no attention module");
  }
  return result;
}

std::unique_ptr<Processor> make_dynamic_cache(const ConfigNode& config) {
  return std::make_unique<DynamicCacheProcessor>(config);
}

}  // namespace modelslim::dynamic_cache
