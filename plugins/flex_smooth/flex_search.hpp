// The per-subgraph strength searches of `flex_smooth_quant` and `flex_awq_ssz`, as the reference defines
// them (processor/anti_outlier/flex_smooth/alpha_beta_search.py), on one subgraph's calibration inputs X
// [tokens, in] and weight W [out, in] (a norm's readers stacked by rows):
//   flex_smooth_quant: s = amax_t|X|^α · amax_o|W|^−β; the error of int8 symmetric per-token X/s times int8
//     symmetric per-row W·s, relative to X·Wᵀ (RMS over RMS). α over 0, 0.05, …, 1 with β = 1 − α, then β
//     over the same grid with that α; ties go to the later candidate.
//   flex_awq_ssz: s = amax_t|X|^α (β = 0); the error of the configured quantized linear (qconfig act and
//     weight quantizers, e.g. per-token int8 and SSZ int4) on X/s and W·s; α over the same grid.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "search_quantizer.hpp"

namespace modelslim::flex_smooth {

// 0, 0.05, …, 1 (21 values).
std::vector<double> strength_grid();

struct FlexChoice {
  double alpha = 0.0;
  double beta = 0.0;
  double error = 0.0;  // relative RMS output error of the chosen candidate
};

double flex_smooth_error(const at::Tensor& act, const at::Tensor& weight, double alpha, double beta);
FlexChoice search_flex_smooth(const at::Tensor& act, const at::Tensor& weight);

struct LinearQuantSpec {
  std::optional<smoothing_search::QuantizerSpec> act;  // empty: float activations
  smoothing_search::QuantizerSpec weight;
};

double flex_awq_ssz_error(const at::Tensor& act, const at::Tensor& weight, double alpha,
                          const LinearQuantSpec& spec);
FlexChoice search_flex_awq_ssz(const at::Tensor& act, const at::Tensor& weight, const LinearQuantSpec& spec);

}  // namespace modelslim::flex_smooth
