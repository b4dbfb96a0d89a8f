#include "common/fp8_sampler.hpp"

#include <ATen/Functions.h>
#include <ATen/Parallel.h>

#include <array>
#include <cmath>

#include "modelslim/fp8.hpp"

namespace modelslim::tools {
namespace {

constexpr double kSigmasAt448 = 4.5;

// Φ⁻¹(p) by bisection on the normal CDF (65536 calls, once): exact enough for a table of 8-bit codes.
double normal_quantile(double p) {
  double low = -10.0, high = 10.0;
  for (int step = 0; step < 80; ++step) {
    const double mid = (low + high) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? low : high) = mid;
  }
  return (low + high) / 2;
}

const std::array<std::uint8_t, 65536>& quantile_codes() {
  static const std::array<std::uint8_t, 65536> table = [] {
    std::array<std::uint8_t, 65536> codes{};
    for (std::size_t u = 0; u < codes.size(); ++u) {
      const double p = (static_cast<double>(u) + 0.5) / static_cast<double>(codes.size());
      codes[u] = encode_e4m3fn(static_cast<float>(normal_quantile(p) * 448.0 / kSigmasAt448));
    }
    return codes;
  }();
  return table;
}

// splitmix64: a fast, well-mixed generator whose state can start anywhere (one stream per row).
std::uint64_t next_random(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

void fill_row(std::uint8_t* row, std::int64_t in, std::uint64_t state) {
  const std::array<std::uint8_t, 65536>& table = quantile_codes();
  for (std::int64_t j = 0; j < in; j += 4) {
    std::uint64_t bits = next_random(state);
    for (std::int64_t k = j; k < std::min(in, j + 4); ++k, bits >>= 16) row[k] = table[bits & 0xFFFF];
  }
}

}  // namespace

Fp8Blocks sample_normal_fp8_blocks(std::int64_t out, std::int64_t in, std::int64_t block, double stddev,
                                   std::uint64_t seed) {
  quantile_codes();  // built before the threads start
  Fp8Blocks blocks{at::empty({out, in}, at::kByte),
                   at::full({(out + block - 1) / block, (in + block - 1) / block},
                            static_cast<float>(stddev * kSigmasAt448 / 448.0), at::kFloat)};
  std::uint8_t* codes = blocks.codes.data_ptr<std::uint8_t>();
  at::parallel_for(0, out, 64, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t r = begin; r < end; ++r)
      fill_row(codes + r * in, in, seed * 0x100000001B3ULL + static_cast<std::uint64_t>(r));
  });
  return blocks;
}

}  // namespace modelslim::tools
