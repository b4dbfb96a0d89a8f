// float8_e4m3fn, the weight format of DeepSeek-V3/R1 and other FP8 checkpoints (safetensors dtype F8_E4M3).
// LibTorch 1.13 has no float8 type, so the SDK decodes the codes itself: 1 sign bit, 4 exponent bits
// (bias 7), 3 mantissa bits, subnormals at exponent 0, no infinities, S.1111.111 is NaN (largest finite
// magnitude 448). Every code is exactly representable in float32. LibTorch-free (the safetensors fuzz
// target compiles it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "modelslim/export.hpp"

namespace modelslim {

// The value of one e4m3fn code (NaN for 0x7F and 0xFF).
MODELSLIM_SDK_API float e4m3fn_to_float(std::uint8_t code);

// The nearest code to `value` (ties to the even code, as IEEE rounding), saturating at ±448; NaN → 0x7F.
MODELSLIM_SDK_API std::uint8_t encode_e4m3fn(float value);

// Decodes `count` codes into `out` (float32), by table.
MODELSLIM_SDK_API void decode_e4m3fn(const std::uint8_t* codes, std::size_t count, float* out);

// Block-wise dequantization in place: the row-major `rows`×`cols` matrix `weight` is multiplied by
// `scale_inv`, row-major [ceil(rows / block_rows), ceil(cols / block_cols)], one factor per block;
// the blocks of the last block row/column may be partial. Block sizes must be positive.
MODELSLIM_SDK_API void scale_fp8_blocks(float* weight, std::int64_t rows, std::int64_t cols,
                                        const float* scale_inv, std::int64_t block_rows,
                                        std::int64_t block_cols);

}  // namespace modelslim
