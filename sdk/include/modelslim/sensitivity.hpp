// Quantization-sensitivity statistics of linear inputs, shared by `modelslim analyze` and tuning strategies.
// Heavy tails (a few huge channels) are what breaks per-tensor activation quantization; kurtosis measures
// them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

// Running raw moments of every element seen, in float64.
class MODELSLIM_SDK_API MomentAccumulator {
 public:
  void update(const at::Tensor& values);
  double count() const { return count_; }
  double mean() const;
  double stddev() const;  // population standard deviation
  // Pearson kurtosis E[(x − μ)^4] / σ^4 (3 for a normal distribution); 0 when σ = 0.
  double kurtosis() const;

 private:
  double count_ = 0.0;
  double sum_[4] = {0.0, 0.0, 0.0, 0.0};  // Σx, Σx², Σx³, Σx⁴
};

// The reference's quantile metric: the step of a symmetric int8 grid scaled by the largest |x|, relative to
// the interquartile range; large when a few outliers leave the bulk of the values few grid points. Each
// update sorts the flattened values (NaNs left out) and keeps every stride-th one from stride/2 (100 and 50
// at first); max|x| is exact. Samples accumulate over updates. When they exceed max_samples, every second one
// of the sorted sample is dropped and the stride doubles, so each kept value keeps standing for the same
// share of inputs and memory stays bounded.
class MODELSLIM_SDK_API QuantileSampler {
 public:
  explicit QuantileSampler(std::size_t max_samples = std::size_t{1} << 20);
  void update(const at::Tensor& values);
  std::size_t sample_size() const { return samples_.size(); }
  std::size_t stride() const { return stride_; }
  double max_abs() const { return max_abs_; }
  // s[n/4] and s[3·(n/4)] of the sorted sample (integer division, as in the reference); 0 when empty.
  double q1() const;
  double q3() const;
  // 2·max|x|/254 / (Q3 − Q1 + 1e−10): the int8 step over the interquartile range; 0 without samples.
  double score() const;

 private:
  const std::vector<double>& sorted_samples() const;
  void decimate();

  std::size_t max_samples_;
  std::size_t stride_ = 100;
  double max_abs_ = 0.0;
  mutable std::vector<double> samples_;  // sorted lazily by the const readers
  mutable bool sorted_ = true;
};

}  // namespace modelslim
