// Shared helpers for outlier suppression (SmoothQuant-style channel scaling): per-channel activation
// statistics, the scale formula, and the function-preserving fusions for each subgraph kind. Processors
// (smooth_quant, iter_smooth, third-party ones) combine them with their own statistics and search.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>

#include "modelslim/block.hpp"
#include "modelslim/distributed.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

// Running per-input-channel min and max of a linear's input over calibration forwards.
class MODELSLIM_SDK_API ChannelRangeObserver {
 public:
  // Attaches to `linear` until detach() or destruction.
  explicit ChannelRangeObserver(Linear& linear);
  ~ChannelRangeObserver();
  ChannelRangeObserver(const ChannelRangeObserver&) = delete;
  ChannelRangeObserver& operator=(const ChannelRangeObserver&) = delete;

  void detach();
  // dp_layer_wise: combines the ranges of every rank (MAX of max, MIN of min). Call it on every rank for
  // every observer, seen or not, in the same order.
  void synchronize(Communicator& communicator);
  bool seen() const { return range_->max.defined(); }
  const at::Tensor& max() const { return range_->max; }  // float32 [in_features]
  const at::Tensor& min() const { return range_->min; }
  at::Tensor absmax() const;  // max |x_c|
  at::Tensor shift() const;   // (max_c + min_c) / 2: the center an asymmetric smoothing removes

 private:
  struct Range {
    at::Tensor max;
    at::Tensor min;
  };
  Linear* linear_;
  std::shared_ptr<Range> range_;
  std::size_t observer_id_ = 0;
  bool attached_ = false;
};

// Column-wise max |W[:, c]| over the linears (their input channels must agree).
MODELSLIM_SDK_API at::Tensor weight_column_absmax(const std::vector<Linear*>& linears);

// s_c = max(a_c^α / max(w_c, 1e-5)^(1−α), scale_min).
MODELSLIM_SDK_API at::Tensor smoothing_scales(const at::Tensor& act_absmax, const at::Tensor& weight_absmax,
                                              double alpha, double scale_min);

// Norm → linears: γ ← γ / s, W ← W · diag(s) for every linear. With `shift` (asymmetric smoothing) the norm
// output is first centred: b ← b + W · shift (bias created when missing), norm bias ← (β − shift) / s.
// Throws Error(kUnsupported) when a shift is requested but the norm cannot take a bias.
MODELSLIM_SDK_API void fuse_norm_linear_scales(NormLinearSubgraph& subgraph, const at::Tensor& scales,
                                               const at::Tensor& shift = {});

// Linear → linear: target W ← W · diag(s); source rows (and bias) ← / s. For kOV, `scales` are over the
// target's input channels [num_heads · head_dim]; heads sharing a kv head get their mean, so both sides
// stay consistent under grouped-query attention. Returns the scales actually applied to the target.
MODELSLIM_SDK_API at::Tensor fuse_linear_pair_scales(LinearPairSubgraph& subgraph, const at::Tensor& scales);

}  // namespace modelslim
