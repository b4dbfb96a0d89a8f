// `dynamic_cache` (the reference's KV-cache int8, C8): per attention, the running per-channel min/max of the
// keys (after q/k norm and RoPE) and values its cache stores over every calibration sample, turned into
// static int8 parameters (modelslim/kv_cache_quant.hpp) that the block then applies to its cache (later
// forwards see the int8 round trip) and the savers write (ascendv1: <attention>.k_proj.kv_cache_scale ...).
//
//   - {type: dynamic_cache, qconfig: {scope: per_channel, dtype: int8, symmetric: true, method: minmax},
//      include: ["*"], exclude: []}        # patterns over attention modules, "model.layers.0.self_attn"
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/processor.hpp"

namespace modelslim::dynamic_cache {

class DynamicCacheProcessor final : public Processor {
 public:
  explicit DynamicCacheProcessor(const ConfigNode& config);

  bool is_data_free() const override { return false; }
  void pre_run(RunContext& context) override;
  void preprocess(BlockRequest& request) override;
  void postprocess(BlockRequest& request) override;
  std::vector<std::string> warnings() const override;

 private:
  // Per-channel running range of one block's keys and values ([kv_heads * head_dim] each).
  struct Range {
    at::Tensor key_min, key_max, value_min, value_max;
  };
  std::string config_path_;
  bool symmetric_ = true;
  NameFilter filter_;
  std::string model_type_;
  std::shared_ptr<Range> range_;  // the current block's, while it calibrates
};

std::unique_ptr<Processor> make_dynamic_cache(const ConfigNode& config);

}  // namespace modelslim::dynamic_cache
