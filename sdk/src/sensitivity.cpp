#include "modelslim/sensitivity.hpp"

#include <ATen/ATen.h>

#include <algorithm>
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

QuantileSampler::QuantileSampler(std::size_t max_samples)
    : max_samples_(std::max<std::size_t>(max_samples, 1)) {}

namespace {

// The flattened values sorted, in their own precision (float32 activations are not widened). NaNs are left
// out: they have no place in an order and would break std::sort's ordering contract. An at::sort would also
// build an index tensor nobody needs.
template <typename T>
std::vector<T> sorted_values(const at::Tensor& flat) {
  const at::Tensor x = flat.to(c10::CppTypeToScalarType<T>::value).contiguous();
  std::vector<T> values(x.data_ptr<T>(), x.data_ptr<T>() + x.numel());
  values.erase(std::remove_if(values.begin(), values.end(), [](T v) { return std::isnan(v); }), values.end());
  std::sort(values.begin(), values.end());
  return values;
}

}  // namespace

void QuantileSampler::update(const at::Tensor& values) {
  const at::Tensor flat = values.detach().reshape({-1});
  if (flat.numel() == 0) return;
  const auto take = [this](const auto& sorted) {
    if (sorted.empty()) return;
    max_abs_ = std::max({max_abs_, std::abs(static_cast<double>(sorted.front())),
                         std::abs(static_cast<double>(sorted.back()))});
    for (std::size_t i = stride_ / 2; i < sorted.size(); i += stride_) samples_.push_back(sorted[i]);
  };
  if (flat.scalar_type() == at::kDouble) {
    take(sorted_values<double>(flat));
  } else {
    take(sorted_values<float>(flat));
  }
  sorted_ = false;
  while (samples_.size() > max_samples_) decimate();
}

void QuantileSampler::decimate() {
  const std::vector<double>& sorted = sorted_samples();
  std::vector<double> kept;
  kept.reserve(sorted.size() / 2);
  for (std::size_t i = 1; i < sorted.size(); i += 2) kept.push_back(sorted[i]);
  samples_ = std::move(kept);  // still sorted
  stride_ *= 2;
}

const std::vector<double>& QuantileSampler::sorted_samples() const {
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  return samples_;
}

double QuantileSampler::q1() const {
  const std::vector<double>& s = sorted_samples();
  return s.empty() ? 0.0 : s[s.size() / 4];
}

double QuantileSampler::q3() const {
  const std::vector<double>& s = sorted_samples();
  return s.empty() ? 0.0 : s[3 * (s.size() / 4)];
}

double QuantileSampler::score() const {
  if (samples_.empty()) return 0.0;
  return 2.0 * max_abs_ / 254.0 / (q3() - q1() + 1e-10);
}

}  // namespace modelslim
