// `kv_smooth` (the reference's KV smoothing): moves the keys' outlier channels into the queries before the
// KV cache is quantized, keeping q·kᵀ (and so the float function) unchanged. Per attention, the absolute max
// of the cached keys (after RoPE) per channel (kv_head, d) over the calibration samples; RoPE rotates the
// pairs (d, d + head_dim/2) together, so both get s = max over the pair, raised to smooth_factor:
//   - with q/k norms (Qwen3): one s per d, the max over kv heads; k_norm.weight /= s, q_norm.weight *= s;
//   - otherwise: k_proj rows (and bias) of kv head h /= s[h], q_proj rows of every query head reading h *=
//   s[h].
//
//   - {type: kv_smooth, smooth_factor: 1.0, include: ["*"], exclude: ["model.layers.0.self_attn"]}
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/processor.hpp"

namespace modelslim::dynamic_cache {

class KvSmoothProcessor final : public Processor {
 public:
  explicit KvSmoothProcessor(const ConfigNode& config);

  bool is_data_free() const override { return false; }
  bool block_local() const override { return true; }
  void pre_run(RunContext& context) override;
  void preprocess(BlockRequest& request) override;
  void postprocess(BlockRequest& request) override;
  std::vector<std::string> warnings() const override;

 private:
  std::string config_path_;
  double smooth_factor_ = 1.0;
  NameFilter filter_;
  std::string model_type_;
  std::shared_ptr<at::Tensor> key_abs_max_;  // [kv_heads, head_dim], the current block's
};

std::unique_ptr<Processor> make_kv_smooth(const ConfigNode& config);

// The smoothing scales from the keys' per-channel absolute max [kv_heads, head_dim]: per channel (h, d) the
// max of the RoPE pair (d, d + head_dim/2) raised to `factor` ([kv_heads, head_dim]); with
// `shared_over_heads` (q/k norms) the max over kv heads too ([head_dim]).
at::Tensor kv_smooth_scales(const at::Tensor& key_abs_max, double factor, bool shared_over_heads);

}  // namespace modelslim::dynamic_cache
