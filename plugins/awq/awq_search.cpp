#include "awq_search.hpp"

#include <ATen/ATen.h>

#include <limits>

namespace modelslim::awq {

at::Tensor candidate_scales(const at::Tensor& act_mean, double ratio) {
  at::Tensor s = at::pow(act_mean.to(at::kFloat), ratio).clamp_min(1e-4).reshape({-1});
  s = s / (s.max() * s.min()).sqrt();
  return at::where(at::isfinite(s), s, at::ones_like(s));
}

AwqChoice search_scales(const at::Tensor& act_mean, int n_grid,
                        const std::function<double(const at::Tensor&)>& loss_of,
                        const std::function<at::Tensor(const at::Tensor&)>& adjust) {
  AwqChoice best;
  best.loss = std::numeric_limits<double>::infinity();
  for (int g = 0; g < n_grid; ++g) {
    const double ratio = static_cast<double>(g) / n_grid;
    at::Tensor scales = candidate_scales(act_mean, ratio);
    if (adjust) scales = adjust(scales);
    const double loss = loss_of(scales);
    if (loss < best.loss) best = {ratio, scales, loss};
  }
  return best;
}

}  // namespace modelslim::awq
