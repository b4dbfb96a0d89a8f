// The reference's `range_parm` of a linear's input: how far its largest |value| sits from the bulk, in
// standard deviations. The v0 Calibrator logs it per activation quantizer, picks the hybrid observer by it
// (act_method 3: histogram when range_parm <= 50, else min-max) and rolls back the disable_level='Lx'
// linears with the largest values. Definition (the reference's get_features statistics, readable in
// llm_ptq_tools/layer_select.py StdMethod), per batch x reshaped to [tokens, C]:
//   shift_c = max_t x[t, c] + min_t x[t, c]          (per channel, this batch; not halved, as there)
//   std_b   = unbiased standard deviation of every x[t, c] − shift_c
// over batches: t_max = max x, t_min = min x, std = max_b std_b; range_parm = max(|t_max|, |t_min|) / std.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>

#include "modelslim/export.hpp"

namespace modelslim {

// The hybrid observer's threshold: histogram at or below, min-max above (Quantizer.init_act_and_observer).
inline constexpr double kHybridRangeParamThreshold = 50.0;
// The reference computes range_parm on the first 5 calibration samples (get_features(calib_data[:5])).
inline constexpr std::size_t kRangeParamSamples = 5;

class MODELSLIM_SDK_API RangeParamAccumulator {
 public:
  // One batch (one calibration sample's input), any shape [..., C]; computed in float64.
  void update(const at::Tensor& input);
  std::size_t batches() const { return batches_; }
  // 0 without batches; max(|t_max|, |t_min|) when the standard deviation is 0 (as the reference's v1 std
  // analysis does instead of dividing by zero).
  double value() const;

 private:
  double t_max_ = 0.0;
  double t_min_ = 0.0;
  double std_ = 0.0;
  std::size_t batches_ = 0;
};

}  // namespace modelslim
