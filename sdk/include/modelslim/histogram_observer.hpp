// Histogram calibration of a per-tensor activation range: a fixed number of bins accumulated over batches
// (re-binned when the range grows), then a search for the clip bounds whose quantization grid gives the
// lowest L2 error over the histogram mass. Outliers stop dictating the scale when clipping them costs less
// than the resolution they take from everything else.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "modelslim/export.hpp"

namespace modelslim {

struct ClipRange {
  double min = 0.0;
  double max = 0.0;
};

class MODELSLIM_SDK_API HistogramObserver {
 public:
  explicit HistogramObserver(std::int64_t bins = 2048);

  // Non-finite values are dropped (and counted).
  void update(const at::Tensor& values);
  bool empty() const { return total_ == 0.0; }
  std::int64_t dropped() const { return dropped_; }
  ClipRange range() const { return {min_, max_}; }      // observed min and max
  const at::Tensor& counts() const { return counts_; }  // float64 [bins] over [min, max]

  // Expected squared quantization error of the histogram mass (bin centres) on the grid of `clip`.
  double quantization_error(const ClipRange& clip, int bits, bool symmetric) const;
  // Candidate windows shrink the observed range from both ends (asymmetric) or symmetrically around 0
  // (symmetric) in `steps` steps each; returns the one with the lowest quantization_error.
  ClipRange search_clip(int bits, bool symmetric, int steps = 128) const;

 private:
  std::int64_t bins_;
  at::Tensor counts_;  // float64 [bins]
  double min_ = 0.0;
  double max_ = 0.0;
  double total_ = 0.0;
  std::int64_t dropped_ = 0;
};

}  // namespace modelslim
