// Quantization arithmetic against hand-derived cases and an independent float64 implementation.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "modelslim/quant_math.hpp"

using namespace modelslim;

namespace {
// Independent reference: one row (or group) of values, float64 and the C library's round-half-even.
struct RefParams {
  double scale;
  double offset;
};
RefParams ref_params(double mn, double mx, int bits, bool symmetric) {
  mn = std::min(mn, 0.0);
  mx = std::max(mx, 0.0);
  const double eps = std::numeric_limits<float>::epsilon();
  if (symmetric) return {std::max(std::max(-mn, mx) / (std::pow(2.0, bits - 1) - 1), eps), 0.0};
  const double scale = std::max((mx - mn) / (std::pow(2.0, bits) - 1), eps);
  return {scale, std::nearbyint(-mn / scale) - std::pow(2.0, bits - 1)};
}
double ref_quantize(double x, const RefParams& p, int bits) {
  const double lo = -std::pow(2.0, bits - 1);
  const double hi = std::pow(2.0, bits - 1) - 1;
  return std::min(std::max(std::nearbyint(x / p.scale + p.offset), lo), hi);
}
}  // namespace

TEST_CASE("symmetric per-channel weights: hand-derived") {
  const at::Tensor w = at::tensor({0.5f, -1.27f, 0.3f, 2.0f, 0.1f, -0.05f}).reshape({2, 3});
  const QuantizedWeight q = quantize_weight_minmax(w, 8, true, 0);
  CHECK((q.qweight.scalar_type() == at::kChar));
  CHECK(q.scale.sizes() == at::IntArrayRef({2}));
  CHECK(q.scale[0].item<float>() == doctest::Approx(0.01).epsilon(1e-6));
  CHECK(q.scale[1].item<float>() == doctest::Approx(2.0 / 127).epsilon(1e-6));
  const std::vector<int> expected = {50, -127, 30, 127, 6, -3};
  for (int i = 0; i < 6; ++i) CHECK(q.qweight.reshape({-1})[i].item<int>() == expected[i]);
  CHECK(q.offset.abs().sum().item<float>() == 0.0f);
}

TEST_CASE("asymmetric range: hand-derived scale, signed zero point and clamping") {
  const ScaleOffset p = minmax_scale_offset(at::tensor({-1.0f}), at::tensor({3.0f}), 8, false);
  CHECK(p.scale.item<float>() == doctest::Approx(4.0 / 255).epsilon(1e-6));
  CHECK(p.offset.item<float>() == -64.0f);  // round(63.75) - 128
  const at::Tensor q = quantize_values(at::tensor({3.0f, -1.0f, 10.0f}), p.scale, p.offset, 8);
  CHECK(q[0].item<float>() == 127.0f);
  CHECK(q[1].item<float>() == -128.0f);
  CHECK(q[2].item<float>() == 127.0f);  // clamped
}

TEST_CASE("ranges always include zero; an all-zero tensor gets the epsilon scale") {
  const ScaleOffset positive = minmax_scale_offset(at::tensor({0.5f}), at::tensor({2.0f}), 8, false);
  CHECK(positive.scale.item<float>() == doctest::Approx(2.0 / 255).epsilon(1e-6));
  CHECK(positive.offset.item<float>() == -128.0f);
  const ScaleOffset zero = minmax_scale_offset(at::tensor({0.0f}), at::tensor({0.0f}), 8, true);
  CHECK(zero.scale.item<float>() == std::numeric_limits<float>::epsilon());
}

TEST_CASE("rounding is half to even") {
  const at::Tensor scale = at::tensor({1.0f});
  const at::Tensor offset = at::tensor({0.0f});
  const at::Tensor q = quantize_values(at::tensor({0.5f, 1.5f, 2.5f, -0.5f, -1.5f}), scale, offset, 8);
  const std::vector<float> expected = {0, 2, 2, -0, -2};
  for (int i = 0; i < 5; ++i) CHECK(q[i].item<float>() == expected[i]);
}

TEST_CASE("per-channel and per-group weights match a float64 reference on random data") {
  at::manual_seed(7);
  const at::Tensor w = at::randn({16, 256}) * 0.05;
  const auto w64 = w.to(at::kDouble).contiguous();
  const double* data = w64.data_ptr<double>();
  for (const bool symmetric : {true, false}) {
    for (const std::int64_t group : {std::int64_t{0}, std::int64_t{64}, std::int64_t{128}}) {
      CAPTURE(symmetric);
      CAPTURE(group);
      const QuantizedWeight q = quantize_weight_minmax(w, 8, symmetric, group);
      const std::int64_t span = group == 0 ? 256 : group;
      std::int64_t mismatches = 0;
      for (std::int64_t r = 0; r < 16; ++r) {
        for (std::int64_t g = 0; g < 256 / span; ++g) {
          double mn = 1e30, mx = -1e30;
          for (std::int64_t c = g * span; c < (g + 1) * span; ++c) {
            mn = std::min(mn, data[r * 256 + c]);
            mx = std::max(mx, data[r * 256 + c]);
          }
          const RefParams p = ref_params(mn, mx, 8, symmetric);
          const float scale = group == 0 ? q.scale[r].item<float>() : q.scale[r][g].item<float>();
          CHECK(scale == doctest::Approx(p.scale).epsilon(1e-6));
          for (std::int64_t c = g * span; c < (g + 1) * span; ++c) {
            if (q.qweight[r][c].item<int>() != static_cast<int>(ref_quantize(data[r * 256 + c], p, 8)))
              ++mismatches;
          }
        }
      }
      CHECK(mismatches == 0);
      // Dequantized weights are within half a step of the originals.
      const at::Tensor deq = dequantize_weight(q.qweight, q.scale, q.offset);
      const at::Tensor step = group == 0 ? q.scale.unsqueeze(1) : q.scale.repeat_interleave(group, 1);
      CHECK(((deq - w).abs() <= step * 0.5 + 1e-7).all().item<bool>());
    }
  }
}

TEST_CASE("dynamic per-token fake quantization uses one range per token") {
  const at::Tensor x = at::tensor({1.0f, -2.0f, 0.5f, 100.0f, 3.0f, -40.0f}).reshape({1, 2, 3});
  const at::Tensor fq = fake_quantize_per_token(x, 8, true);
  // Token 0: scale 2/127; token 1: scale 100/127. Checked with the float64 reference.
  for (int t = 0; t < 2; ++t) {
    const double mx = t == 0 ? 2.0 : 100.0;
    const RefParams p{mx / 127, 0};
    for (int c = 0; c < 3; ++c) {
      const double value = x[0][t][c].item<float>();
      const double expected = ref_quantize(value, p, 8) * p.scale;
      CHECK(fq[0][t][c].item<float>() == doctest::Approx(expected).epsilon(1e-6));
    }
  }
}

namespace {
// SSZ for one row written out with scalars (independent of the tensor implementation).
struct RowResult {
  std::vector<double> q;
  double scale;
  double offset;
  double mse;
};
RowResult ssz_row(const std::vector<double>& w, int bits, bool symmetric, int steps) {
  const double qmin = -std::pow(2.0, bits - 1);
  const double qmax = std::pow(2.0, bits - 1) - 1;
  const double eps = std::numeric_limits<float>::epsilon();
  const double mn = std::min(0.0, *std::min_element(w.begin(), w.end()));
  const double mx = std::max(0.0, *std::max_element(w.begin(), w.end()));
  RowResult r;
  r.offset = 0.0;
  if (symmetric) {
    r.scale = std::max(std::max(-mn, mx) / qmax, eps);
  } else {
    r.scale = std::max((mx - mn) / (std::pow(2.0, bits) - 1), eps);
    r.offset = std::nearbyint(-mn / r.scale) + qmin;
  }
  const auto quantize = [&](double s, double z) {
    std::vector<double> q;
    for (double v : w) q.push_back(std::min(qmax, std::max(qmin, std::nearbyint(v / s + z))));
    return q;
  };
  const auto mse = [&](const std::vector<double>& q, double s, double z) {
    double e = 0.0;
    for (std::size_t i = 0; i < w.size(); ++i) e += std::pow((q[i] - z) * s - w[i], 2);
    return e / static_cast<double>(w.size());
  };
  r.q = quantize(r.scale, r.offset);
  r.mse = mse(r.q, r.scale, r.offset);
  for (int step = 0; step < steps; ++step) {
    double num = 0.0, den = 0.0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      num += w[i] * (r.q[i] - r.offset);
      den += (r.q[i] - r.offset) * (r.q[i] - r.offset);
    }
    const double s = std::max(num / std::max(den, 1e-30), eps);
    double z = r.offset;
    if (!symmetric) {
      double sum = 0.0;
      for (std::size_t i = 0; i < w.size(); ++i) sum += r.q[i] * s - w[i];
      z = std::nearbyint(sum / (static_cast<double>(w.size()) * s));
    }
    const auto q = quantize(s, z);
    const double e = mse(q, s, z);
    // Rows are independent: this row stops once it no longer improves (the tensor version keeps iterating
    // while any row improves, which never changes a row that did not improve).
    if (!(e < r.mse)) break;
    r = {q, s, z, e};
  }
  return r;
}
}  // namespace

TEST_CASE("SSZ weights match a scalar float64 re-implementation and never lose to min/max") {
  at::manual_seed(21);
  for (const int bits : {8, 4}) {
    for (const bool symmetric : {true, false}) {
      CAPTURE(bits);
      CAPTURE(symmetric);
      const at::Tensor weight = at::randn({12, 40}) * at::exp(at::randn({12, 1})) + 0.1;
      const QuantizedWeight ssz = quantize_weight_ssz(weight, bits, symmetric, 50);
      const QuantizedWeight minmax = quantize_weight_minmax(weight, bits, symmetric, 0);
      int improved_rows = 0;
      for (std::int64_t row = 0; row < 12; ++row) {
        std::vector<double> w;
        for (std::int64_t c = 0; c < 40; ++c) w.push_back(weight[row][c].item<double>());
        const RowResult expected = ssz_row(w, bits, symmetric, 50);
        for (std::int64_t c = 0; c < 40; ++c) CHECK(ssz.qweight[row][c].item<double>() == expected.q[c]);
        CHECK(ssz.scale[row].item<double>() == doctest::Approx(expected.scale).epsilon(1e-6));
        CHECK(ssz.offset[row].item<double>() == expected.offset);
        const auto row_error = [&](const QuantizedWeight& qw) {
          return (dequantize_weight(qw.qweight[row].unsqueeze(0), qw.scale[row].reshape({1}),
                                    qw.offset[row].reshape({1}))
                      .to(at::kDouble) -
                  weight[row].to(at::kDouble))
              .pow(2)
              .mean()
              .item<double>();
        };
        CHECK(row_error(ssz) <= row_error(minmax) * (1 + 1e-6));
        if (row_error(ssz) < row_error(minmax) * 0.999) ++improved_rows;
      }
      CHECK(improved_rows >= 6);  // most rows gain
    }
  }
}
