#include "modelslim/range_param.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace modelslim {

void RangeParamAccumulator::update(const at::Tensor& input) {
  if (input.numel() == 0) return;  // e.g. an expert no token was routed to
  const at::Tensor x = input.detach().to(at::kDouble).reshape({-1, input.size(-1)});
  const at::Tensor shift = std::get<0>(x.max(0)) + std::get<0>(x.min(0));
  const double batch_std = (x - shift).std().item<double>();  // unbiased, as torch.std
  const double batch_max = x.max().item<double>();
  const double batch_min = x.min().item<double>();
  if (batches_ == 0) {
    t_max_ = batch_max;
    t_min_ = batch_min;
    std_ = batch_std;
  } else {
    t_max_ = std::max(t_max_, batch_max);
    t_min_ = std::min(t_min_, batch_min);
    std_ = std::max(std_, batch_std);
  }
  ++batches_;
}

double RangeParamAccumulator::value() const {
  if (batches_ == 0) return 0.0;
  const double abs_max = std::max(std::abs(t_max_), std::abs(t_min_));
  return std_ == 0.0 ? abs_max : abs_max / std_;
}

}  // namespace modelslim
