#include "modelslim/sensitivity.hpp"

#include <cmath>

namespace modelslim {

void MomentAccumulator::update(const at::Tensor& values) {
  const at::Tensor x = values.detach().reshape({-1}).to(at::kDouble);
  const at::Tensor x2 = x * x;
  count_ += static_cast<double>(x.numel());
  sum_[0] += x.sum().item<double>();
  sum_[1] += x2.sum().item<double>();
  sum_[2] += (x2 * x).sum().item<double>();
  sum_[3] += (x2 * x2).sum().item<double>();
}

double MomentAccumulator::mean() const {
  return count_ > 0 ? sum_[0] / count_ : 0.0;
}

double MomentAccumulator::stddev() const {
  if (count_ == 0) return 0.0;
  const double m = mean();
  return std::sqrt(std::max(sum_[1] / count_ - m * m, 0.0));
}

double MomentAccumulator::kurtosis() const {
  if (count_ == 0) return 0.0;
  const double m = mean();
  const double e2 = sum_[1] / count_;
  const double e3 = sum_[2] / count_;
  const double e4 = sum_[3] / count_;
  const double variance = e2 - m * m;
  if (variance <= 0.0) return 0.0;
  const double central4 = e4 - 4.0 * m * e3 + 6.0 * m * m * e2 - 3.0 * m * m * m * m;
  return central4 / (variance * variance);
}

}  // namespace modelslim
