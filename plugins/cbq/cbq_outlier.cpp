#include "cbq_outlier.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <functional>

namespace modelslim::cbq {
namespace {

// The reference starts its best metric at −1000 and replaces it only on a strict improvement.
constexpr double kInitialMetric = -1000.0;

// Unbiased variance of values[begin, end) (torch.var's default); 0 for a single value.
double variance(const std::vector<double>& values, std::size_t begin, std::size_t end) {
  const std::size_t n = end - begin;
  if (n < 2) return 0.0;
  double mean = 0.0;
  for (std::size_t i = begin; i < end; ++i) mean += values[i];
  mean /= static_cast<double>(n);
  double sum = 0.0;
  for (std::size_t i = begin; i < end; ++i) sum += (values[i] - mean) * (values[i] - mean);
  return sum / static_cast<double>(n - 1);
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor d = t.detach().to(at::kCPU).to(at::kDouble).contiguous().reshape({-1});
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

// (value / base)^rate where that is a positive finite number, else 1 (the reference would produce NaN).
double ratio_scale(double value, double base, double rate) {
  const double ratio = value / base;
  const double scale = std::pow(ratio, rate);
  return ratio > 0.0 && std::isfinite(scale) ? scale : 1.0;
}

}  // namespace

double quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (position - static_cast<double>(below)) * (values[above] - values[below]);
}

double refine_upper(std::vector<double> outliers, double coarse) {
  std::sort(outliers.begin(), outliers.end(), std::greater<>());
  double best = kInitialMetric;
  double threshold = coarse;
  for (std::size_t i = 0; i + 1 < outliers.size(); ++i) {
    // top: [0, i], bottom: [i + 1, n); metric: the gap minus the bottom's variance.
    const double metric =
        std::abs(outliers[i] - outliers[i + 1]) - variance(outliers, i + 1, outliers.size());
    if (metric > best) {
      best = metric;
      threshold = outliers[i + 1];
    }
  }
  return threshold;
}

double refine_lower(std::vector<double> outliers, double coarse) {
  std::sort(outliers.begin(), outliers.end(), std::greater<>());
  double best = kInitialMetric;
  double threshold = coarse;
  for (std::size_t i = 0; i + 1 < outliers.size(); ++i) {
    // top: [0, i] (the milder side), bottom: [i + 1, n); metric: the gap minus the top's variance.
    const double metric = std::abs(outliers[i] - outliers[i + 1]) - variance(outliers, 0, i + 1);
    if (metric > best) {
      best = metric;
      threshold = outliers[i];
    }
  }
  return threshold;
}

OutlierThresholds outlier_thresholds(const std::vector<double>& channel_min,
                                     const std::vector<double>& channel_max, double alpha) {
  const double q1_neg = quantile(channel_min, 0.2);
  const double q3_neg = quantile(channel_min, 0.8);
  const double q1_pos = quantile(channel_max, 0.2);
  const double q3_pos = quantile(channel_max, 0.8);
  OutlierThresholds t{q3_pos + alpha * (q3_pos - q1_pos), q1_neg - alpha * (q3_neg - q1_neg)};
  std::vector<double> upper;
  std::vector<double> lower;
  for (const double v : channel_max) {
    if (v > t.upper) upper.push_back(v);
  }
  for (const double v : channel_min) {
    if (v < t.lower) lower.push_back(v);
  }
  if (upper.size() > 1) t.upper = refine_upper(upper, t.upper);
  if (lower.size() > 1) t.lower = refine_lower(lower, t.lower);
  return t;
}

at::Tensor outlier_scales(const at::Tensor& channel_min, const at::Tensor& channel_max, double alpha,
                          double smooth_rate) {
  const std::vector<double> mins = to_vector(channel_min);
  const std::vector<double> maxs = to_vector(channel_max);
  const OutlierThresholds t = outlier_thresholds(mins, maxs, alpha);
  // Some channel is always ordinary on each side: the thresholds lie at or beyond the 0.8 (0.2) quantile.
  double max_value = -INFINITY;
  double min_value = INFINITY;
  for (std::size_t c = 0; c < maxs.size(); ++c) {
    if (!(maxs[c] > t.upper)) max_value = std::max(max_value, maxs[c]);
    if (!(mins[c] < t.lower)) min_value = std::min(min_value, mins[c]);
  }
  std::vector<float> scales(maxs.size(), 1.0F);
  for (std::size_t c = 0; c < maxs.size(); ++c) {
    const double pos = maxs[c] > t.upper ? ratio_scale(maxs[c], max_value, smooth_rate) : 1.0;
    const double neg = mins[c] < t.lower ? ratio_scale(mins[c], min_value, smooth_rate) : 1.0;
    // The reference ignores the negative side when the ordinary minimum is 0.
    scales[c] = static_cast<float>(min_value != 0.0 ? std::max(pos, neg) : pos);
  }
  return at::tensor(scales, at::kFloat);
}

std::int64_t scaled_channels(const at::Tensor& scales) {
  return scales.ne(1.0).sum().item<std::int64_t>();
}

}  // namespace modelslim::cbq
