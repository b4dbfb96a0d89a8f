// Quantization-sensitivity statistics of linear inputs, shared by `modelslim analyze` and tuning strategies.
// Heavy tails (a few huge channels) are what breaks per-tensor activation quantization; kurtosis measures
// them.
#pragma once

#include <ATen/ATen.h>

namespace modelslim {

// Running raw moments of every element seen, in float64.
class MomentAccumulator {
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

}  // namespace modelslim
