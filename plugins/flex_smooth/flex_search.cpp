#include "flex_search.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace modelslim::flex_smooth {
namespace {

// Keeps an all-zero row or channel from dividing 0 by 0 (the reference has no guard there).
constexpr double kTiny = 1e-30;

// The reference's quant_int8sym: per row of the last dimension, interval = max|x| / 127.
at::Tensor int8_symmetric_rows(const at::Tensor& x) {
  const at::Tensor interval = x.abs().amax(-1, true).clamp_min(kTiny) / 127.0;
  return at::round(x / interval).clamp(-127, 127) * interval;
}

// What every candidate of one search shares.
struct Problem {
  at::Tensor act;
  at::Tensor weight;
  at::Tensor golden;  // X·Wᵀ
  double normal = 0.0;
  at::Tensor act_absmax;     // [in]
  at::Tensor weight_absmax;  // [in]

  Problem(const at::Tensor& x, const at::Tensor& w)
      : act(x.to(at::kFloat)),
        weight(w.to(at::kFloat)),
        golden(at::matmul(act, weight.t())),
        normal(golden.pow(2).mean().sqrt().item<double>()),
        act_absmax(act.abs().amax(0)),
        weight_absmax(weight.abs().amax(0)) {}

  double relative_error(const at::Tensor& output) const {
    return (output - golden).pow(2).mean().sqrt().item<double>() / normal;
  }
};

double smooth_error(const Problem& p, double alpha, double beta) {
  const at::Tensor scale = at::pow(p.act_absmax, alpha) * at::pow(p.weight_absmax.clamp_min(kTiny), -beta);
  const at::Tensor s = scale.clamp_min(kTiny);
  const at::Tensor output = at::matmul(int8_symmetric_rows(p.act / s), int8_symmetric_rows(p.weight * s).t());
  return p.relative_error(output);
}

double awq_ssz_error(const Problem& p, double alpha, const LinearQuantSpec& spec) {
  const at::Tensor s = at::pow(p.act_absmax, alpha).clamp_min(kTiny);
  at::Tensor x = p.act / s;
  if (spec.act) x = smoothing_search::fake_quantize_activation(x, *spec.act);
  const at::Tensor w = smoothing_search::fake_quantize_weight(p.weight * s, spec.weight);
  return p.relative_error(at::matmul(x, w.t()));
}

}  // namespace

std::vector<double> strength_grid() {
  std::vector<double> grid;
  for (int i = 0; i <= 20; ++i) grid.push_back(i / 20.0);
  return grid;
}

double flex_smooth_error(const at::Tensor& act, const at::Tensor& weight, double alpha, double beta) {
  return smooth_error(Problem(act, weight), alpha, beta);
}

FlexChoice search_flex_smooth(const at::Tensor& act, const at::Tensor& weight) {
  const Problem problem(act, weight);
  FlexChoice best{0.0, 1.0, std::numeric_limits<double>::infinity()};
  for (const double alpha : strength_grid()) {
    const double error = smooth_error(problem, alpha, 1.0 - alpha);
    if (error <= best.error) best = {alpha, 1.0 - alpha, error};
  }
  for (const double beta : strength_grid()) {
    const double error = smooth_error(problem, best.alpha, beta);
    if (error <= best.error) best = {best.alpha, beta, error};
  }
  return best;
}

double flex_awq_ssz_error(const at::Tensor& act, const at::Tensor& weight, double alpha,
                          const LinearQuantSpec& spec) {
  return awq_ssz_error(Problem(act, weight), alpha, spec);
}

FlexChoice search_flex_awq_ssz(const at::Tensor& act, const at::Tensor& weight, const LinearQuantSpec& spec) {
  const Problem problem(act, weight);
  FlexChoice best{0.0, 0.0, std::numeric_limits<double>::infinity()};
  for (const double alpha : strength_grid()) {
    const double error = awq_ssz_error(problem, alpha, spec);
    if (error <= best.error) best = {alpha, 0.0, error};
  }
  return best;
}

}  // namespace modelslim::flex_smooth
