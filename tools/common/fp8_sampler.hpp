// Random FP8 block-quantized linear weights written without a float32 copy: benchmark (h) needs 11 G weights
// per DeepSeek-V3 MoE layer, and drawing them as float32 normals and rounding each to e4m3 ran at ~3 M
// weights/s. Codes are drawn instead from the e4m3 rounding of the normal distribution's quantiles.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace modelslim::tools {

struct Fp8Blocks {
  at::Tensor codes;   // [out, in] uint8 e4m3fn codes
  at::Tensor scales;  // [ceil(out / block), ceil(in / block)] float32 weight_scale_inv
};

// Weights ≈ N(0, stddev²) truncated at ±4.2 σ: each code is e4m3(Φ⁻¹(u) · 448 / 4.5) for u on a 2¹⁶ grid
// drawn uniformly, and every block's scale is stddev · 4.5 / 448. Deterministic in `seed` (per row, so
// independent of the thread count).
Fp8Blocks sample_normal_fp8_blocks(std::int64_t out, std::int64_t in, std::int64_t block, double stddev,
                                   std::uint64_t seed);

}  // namespace modelslim::tools
