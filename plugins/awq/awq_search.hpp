// AWQ's scale search as the reference defines it (processor/anti_outlier/awq/best_scales_search.py): for
// ratio r = g / n_grid, g = 0 … n_grid − 1, the candidate s = clamp(mean|x|^r, 1e-4) / √(max s · min s)
// (non-finite entries → 1); the loss of a candidate is the mean squared difference between the inspected
// module's output with every scaled linear's weight replaced by Q(W·diag(s))·diag(s)⁻¹ and its float
// output. The smallest loss wins (the earlier ratio on ties).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>

namespace modelslim::awq {

at::Tensor candidate_scales(const at::Tensor& act_mean, double ratio);

struct AwqChoice {
  double ratio = 0.0;
  at::Tensor scales;  // undefined when no candidate had a finite loss
  double loss = 0.0;
};

// `loss_of(scales)` evaluates one candidate; `adjust` (may be empty) turns a candidate into the scales that
// will really be applied (e.g. shared across grouped heads), before it is evaluated.
AwqChoice search_scales(const at::Tensor& act_mean, int n_grid,
                        const std::function<double(const at::Tensor&)>& loss_of,
                        const std::function<at::Tensor(const at::Tensor&)>& adjust = {});

}  // namespace modelslim::awq
