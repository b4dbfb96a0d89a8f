// CBQ's coarse-to-fine outlier channel detection (the reference's anti_outlier/cbq.py, anti_method m5) and
// the per-channel smoothing scales it yields. From each input channel's calibrated min and max:
//   coarse: T+ = Q0.8(max) + α·(Q0.8(max) − Q0.2(max)),  T− = Q0.2(min) − α·(Q0.8(min) − Q0.2(min))
//           (quantiles interpolated linearly between order statistics, as torch.quantile);
//   fine:   among the coarse outliers (when more than one), split the sorted values where the gap between
//           neighbours minus the variance of the non-outlier side is largest (Otsu-like); the split moves
//           the threshold to the largest non-outlier value (positive side) or the smallest (negative side);
//   scales: s_c = (max_c / M)^r for channels above T+, (min_c / m)^r below T−, 1 elsewhere, the larger of
//           the two when both apply; M (m) is the largest max (smallest min) among the non-outliers.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace modelslim::cbq {

struct OutlierThresholds {
  double upper = 0.0;  // channels with max > upper are positive outliers
  double lower = 0.0;  // channels with min < lower are negative outliers
};

// Linear interpolation between order statistics (torch.quantile's default); `values` need not be sorted.
double quantile(std::vector<double> values, double q);

// The fine split of the positive (negative) coarse outliers: the value a channel must exceed (fall below)
// to stay an outlier. Falls back to `coarse` when no split beats the reference's initial metric (−1000).
double refine_upper(std::vector<double> outliers, double coarse);
double refine_lower(std::vector<double> outliers, double coarse);

OutlierThresholds outlier_thresholds(const std::vector<double>& channel_min,
                                     const std::vector<double>& channel_max, double alpha);

// float32 [channels]: the smoothing scales (1 for ordinary channels).
at::Tensor outlier_scales(const at::Tensor& channel_min, const at::Tensor& channel_max, double alpha,
                          double smooth_rate);

// How many channels outlier_scales moved (scale != 1).
std::int64_t scaled_channels(const at::Tensor& scales);

}  // namespace modelslim::cbq
