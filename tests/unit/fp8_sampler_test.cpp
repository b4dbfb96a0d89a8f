// The direct FP8 sampler behind benchmark (h)'s 23 GB checkpoint (tools/common/fp8_sampler.hpp): the decoded
// weights must follow the normal distribution it claims (moments computed here in float64 from the e4m3
// definition, not from the sampler's table), contain no NaN code, and not depend on the thread count.
#include "support/doctest.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>

#include "../../tools/common/fp8_sampler.hpp"

namespace {

// e4m3fn in float64 from its bit fields (1 sign, 4 exponent with bias 7, 3 mantissa; subnormals at 0).
double e4m3_value(std::uint8_t code) {
  const int exponent = (code >> 3) & 15, mantissa = code & 7;
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa / 8.0, -6) : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return (code & 0x80) ? -magnitude : magnitude;
}

}  // namespace

TEST_CASE("sampled FP8 weights are N(0, stddev) after the block scale, NaN-free and thread-independent") {
  const std::int64_t out = 300, in = 1000, block = 128;  // partial edge blocks both ways
  const double stddev = 0.05;
  const auto blocks = modelslim::tools::sample_normal_fp8_blocks(out, in, block, stddev, 7);
  REQUIRE(blocks.codes.sizes() == at::IntArrayRef({out, in}));
  REQUIRE(blocks.scales.sizes() == at::IntArrayRef({3, 8}));
  const auto* codes = blocks.codes.data_ptr<std::uint8_t>();
  const auto* scales = blocks.scales.data_ptr<float>();
  double sum = 0, sum2 = 0, sum4 = 0;
  std::int64_t nan_codes = 0;
  for (std::int64_t i = 0; i < out; ++i) {
    for (std::int64_t j = 0; j < in; ++j) {
      const std::uint8_t code = codes[i * in + j];
      nan_codes += (code & 0x7F) == 0x7F;
      const double w = e4m3_value(code) * scales[(i / block) * 8 + j / block];
      sum += w, sum2 += w * w, sum4 += w * w * w * w;
    }
  }
  const double n = static_cast<double>(out * in);
  const double variance = sum2 / n - (sum / n) * (sum / n);
  CHECK(nan_codes == 0);
  // 300k draws: the mean's standard error is stddev/548, the standard deviation's about stddev/775;
  // e4m3's 3-bit mantissa rounding moves the variance by under 0.5 %, the ±4.2 σ truncation by 0.03 %.
  CHECK(std::abs(sum / n) < 5 * stddev / 548);
  CHECK(std::sqrt(variance) == doctest::Approx(stddev).epsilon(0.01));
  CHECK(sum4 / n / (variance * variance) == doctest::Approx(3.0).epsilon(0.03));  // normal kurtosis

  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto single = modelslim::tools::sample_normal_fp8_blocks(out, in, block, stddev, 7);
  at::set_num_threads(threads);
  CHECK(at::equal(single.codes, blocks.codes));
  CHECK(
      !at::equal(modelslim::tools::sample_normal_fp8_blocks(out, in, block, stddev, 8).codes, blocks.codes));
}
