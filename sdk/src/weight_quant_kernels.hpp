// The two passes of quantize_weight_minmax over contiguous groups of weights (weight_quant_kernels.cpp):
// scalar for float64 weights, and for float32 one implementation per CPU level, all bit-identical.
#pragma once

#include <cstdint>

#include "modelslim/cpu_isa.hpp"

namespace modelslim::kernels {

// min and max of each of `count` consecutive groups of `span` (>= 1) elements, widened to double (exact).
// Returns false when any group holds NaN or ±Inf; mins/maxs are then unspecified. The sign of a zero
// bound is unspecified too: the scale/offset formula gives the same result for either.
using RangeF32 = bool (*)(const float* w, std::int64_t count, std::int64_t span, double* mins, double* maxs);

// Per group g: q = round_half_even(clamp(double(w) / scale[g] + offset[g], lo, hi)) (clamping first gives
// the same integers as rounding first: the bounds are integers and rounding is monotonic).
using QuantizeF32 = void (*)(const float* w, const double* scale, const double* offset, std::int64_t count,
                             std::int64_t span, double lo, double hi, std::int8_t* q);

struct WeightKernelsF32 {
  RangeF32 range;
  QuantizeF32 quantize;
};

// The float32 passes for `isa` (at most supported_cpu_isa(): the caller passes active_cpu_isa()).
WeightKernelsF32 weight_kernels_f32(CpuIsa isa);

// float64 weights (rare: weights are float32 after loading) take the scalar passes.
bool range_f64(const double* w, std::int64_t count, std::int64_t span, double* mins, double* maxs);
void quantize_f64(const double* w, const double* scale, const double* offset, std::int64_t count,
                  std::int64_t span, double lo, double hi, std::int8_t* q);

}  // namespace modelslim::kernels
