#include "modelslim/fp8.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace modelslim {
namespace {

float decode_bits(std::uint8_t code) {
  const int exponent = (code >> 3) & 0xF;
  const int mantissa = code & 0x7;
  const float sign = (code & 0x80) != 0 ? -1.0f : 1.0f;
  if (exponent == 0xF && mantissa == 0x7) return std::numeric_limits<float>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -9);  // subnormal: m/8 · 2^-6
  return sign * std::ldexp(static_cast<float>(8 + mantissa), exponent - 10);      // (1 + m/8) · 2^(e-7)
}

const std::array<float, 256>& table() {
  static const std::array<float, 256> values = [] {
    std::array<float, 256> result{};
    for (int code = 0; code < 256; ++code) result[code] = decode_bits(static_cast<std::uint8_t>(code));
    return result;
  }();
  return values;
}

}  // namespace

float e4m3fn_to_float(std::uint8_t code) {
  return table()[code];
}

std::uint8_t encode_e4m3fn(float value) {
  if (std::isnan(value)) return 0x7F;
  const std::uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float magnitude = std::fabs(value);
  const std::array<float, 256>& values = table();
  // Codes 0x00..0x7E hold the non-negative finite values in increasing order.
  const float* begin = values.data();
  const float* end = values.data() + 0x7F;
  const float* above = std::lower_bound(begin, end, magnitude);
  if (above == end) return sign | 0x7E;  // beyond 448: saturate
  if (above == begin || *above == magnitude) return sign | static_cast<std::uint8_t>(above - begin);
  const float* below = above - 1;
  const float up = *above - magnitude;
  const float down = magnitude - *below;
  const float* nearest = up < down ? above : down < up ? below : ((below - begin) % 2 == 0 ? below : above);
  return sign | static_cast<std::uint8_t>(nearest - begin);
}

void decode_e4m3fn(const std::uint8_t* codes, std::size_t count, float* out) {
  const std::array<float, 256>& values = table();
  for (std::size_t i = 0; i < count; ++i) out[i] = values[codes[i]];
}

void scale_fp8_blocks(float* weight, std::int64_t rows, std::int64_t cols, const float* scale_inv,
                      std::int64_t block_rows, std::int64_t block_cols) {
  const std::int64_t scale_cols = (cols + block_cols - 1) / block_cols;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* scales = scale_inv + (r / block_rows) * scale_cols;
    float* row = weight + r * cols;
    for (std::int64_t block = 0; block < scale_cols; ++block) {
      const float scale = scales[block];
      const std::int64_t end = std::min(cols, (block + 1) * block_cols);
      for (std::int64_t c = block * block_cols; c < end; ++c) row[c] *= scale;
    }
  }
}

}  // namespace modelslim
