// Quantization arithmetic against hand-derived cases and an independent float64 implementation; the
// vectorised weight quantizer on every CPU level against the same reference.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "modelslim/cpu_isa.hpp"
#include "modelslim/error.hpp"
#include "modelslim/quant_math.hpp"
#include "support/largest_allocation.hpp"

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

// ---- The vectorised weight quantizer (sdk/src/weight_quant_kernels.cpp): bit-identical to the float64
// formula on every CPU level this machine has, edge cases included.
namespace {

// Sets an environment variable for one scope (MODELSLIM_CPU_ISA is read on every quantize call).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

std::vector<CpuIsa> available_levels() {
  std::vector<CpuIsa> levels;
  for (const CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (isa <= supported_cpu_isa()) levels.push_back(isa);
  }
  return levels;
}

// The expected result written out with plain loops in float64: range, parameters (ref_params above), then
// round half to even and clamp, in the documented order. Counts the exact .5 ties and the clamped values so
// a test can show its data reaches them.
struct RefWeight {
  std::vector<std::int8_t> q;
  std::vector<float> scale;
  std::vector<float> offset;
  std::int64_t ties = 0;
  std::int64_t clamped = 0;
};
RefWeight ref_weight(const std::vector<double>& w, std::int64_t rows, std::int64_t cols, int bits,
                     bool symmetric, std::int64_t group) {
  const std::int64_t span = group == 0 ? cols : group;
  const double lo = -std::pow(2.0, bits - 1);
  const double hi = std::pow(2.0, bits - 1) - 1;
  RefWeight out;
  out.q.resize(w.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t begin = r * cols; begin < (r + 1) * cols; begin += span) {
      const auto first = w.begin() + begin;
      const RefParams p = ref_params(*std::min_element(first, first + span),
                                     *std::max_element(first, first + span), bits, symmetric);
      out.scale.push_back(static_cast<float>(p.scale));
      out.offset.push_back(static_cast<float>(p.offset));
      for (std::int64_t i = begin; i < begin + span; ++i) {
        const double t = w[i] / p.scale + p.offset;
        out.ties += t - std::floor(t) == 0.5;
        const double rounded = std::nearbyint(t);
        out.clamped += rounded < lo || rounded > hi;
        out.q[i] = static_cast<std::int8_t>(std::min(std::max(rounded, lo), hi));
      }
    }
  }
  return out;
}

double f32(double v) {
  return static_cast<double>(static_cast<float>(v));
}

// One value of a plain kind: ordinary, wide-magnitude, zero, negative zero, zeros of both signs with a few
// positives, one-signed, constant, near the float32 limit / tiny / subnormal.
double plain_value(int kind, std::mt19937& rng) {
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  const std::uint32_t bits = rng();
  switch (kind) {
    case 0:
      return f32(normal(rng) * 0.02);
    case 1:
      return f32(normal(rng) * std::exp(3 * normal(rng)));
    case 2:
      return 0.0;
    case 3:
      return -0.0;
    case 4:
      return bits % 2 ? -0.0 : (bits % 3 ? 0.0 : f32(std::abs(normal(rng))));
    case 5:
      return f32(1.0 + std::abs(normal(rng)));
    case 6:
      return f32(-1.0 - std::abs(normal(rng)));
    case 7:
      return -0.375;
    default:
      return f32((bits % 4 == 0 ? 3.3e38 : bits % 2 ? 1e-38 : 1e-44) * unit(rng));
  }
}

// A group of exact .5 ties on a scale s: its bounds are pinned so the scale is exactly s. For
// the asymmetric case the lower bound is -(m + 0.5) s, so for odd m the top value rounds past the range
// and must clamp.
void fill_ties(double* g, std::int64_t span, int bits, bool symmetric, std::mt19937& rng) {
  const double qmax = std::pow(2.0, bits - 1) - 1;
  const double levels = std::pow(2.0, bits) - 1;
  // An odd multiple of a power of two: ties stay exact, but a reciprocal multiply instead of the division
  // would round some of them the other way.
  const double s = static_cast<double>(1 + 2 * (rng() % 4)) * std::ldexp(1.0, -static_cast<int>(rng() % 12));
  const double m = static_cast<double>(rng() % static_cast<std::uint32_t>(levels - 1));
  const double lower = symmetric ? -qmax * s : -(m + 0.5) * s;
  const double upper = symmetric ? qmax * s : (levels - m - 0.5) * s;
  for (std::int64_t j = 0; j < span; ++j) {
    const double k = static_cast<double>(rng() % static_cast<std::uint32_t>(2 * qmax)) - qmax;
    g[j] = std::min(std::max((k + 0.5) * s, lower), upper);
  }
  g[0] = lower;
  g[span - 1] = upper;
}

void fill_group(double* g, std::int64_t span, int kind, int bits, bool symmetric, std::mt19937& rng) {
  if (kind == 9) return fill_ties(g, span, bits, symmetric, rng);
  for (std::int64_t j = 0; j < span; ++j) g[j] = plain_value(kind, rng);
}

std::vector<double> edge_case_weight(std::int64_t rows, std::int64_t cols, std::int64_t span, int bits,
                                     bool symmetric, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<double> w(static_cast<std::size_t>(rows * cols));
  for (std::int64_t begin = 0; begin < rows * cols; begin += span) {
    fill_group(w.data() + begin, span, static_cast<int>(rng() % 10), bits, symmetric, rng);
  }
  return w;
}

at::Tensor as_tensor(const std::vector<double>& w, std::int64_t rows, std::int64_t cols,
                     at::ScalarType dtype) {
  return at::from_blob(const_cast<double*>(w.data()), {rows, cols}, at::kDouble).to(dtype).clone();
}

template <typename T>
std::vector<T> quant_math_values_of(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

void check_against_reference(const QuantizedWeight& got, const RefWeight& want) {
  CHECK(quant_math_values_of<std::int8_t>(got.qweight) == want.q);
  CHECK(quant_math_values_of<float>(got.scale.reshape({-1})) == want.scale);
  CHECK(quant_math_values_of<float>(got.offset.reshape({-1})) == want.offset);
}

}  // namespace

TEST_CASE("weight quantizer: every CPU level equals the float64 reference, edge cases included") {
  struct Shape {
    std::int64_t rows, cols, group;
  };
  const std::vector<Shape> shapes = {{37, 250, 0},  {37, 240, 8},   {37, 240, 24}, {37, 240, 48},
                                     {37, 240, 80}, {3, 5, 0},      {9, 128, 32},  {9, 128, 64},
                                     {64, 33, 0},   {40, 1024, 128}};
  std::int64_t ties = 0, clamped = 0;
  unsigned seed = 1;
  for (const int bits : {8, 4}) {
    for (const bool symmetric : {true, false}) {
      for (const Shape& shape : shapes) {
        CAPTURE(bits);
        CAPTURE(symmetric);
        CAPTURE(shape.cols);
        CAPTURE(shape.group);
        const std::int64_t span = shape.group == 0 ? shape.cols : shape.group;
        const std::vector<double> w = edge_case_weight(shape.rows, shape.cols, span, bits, symmetric, seed++);
        const RefWeight want = ref_weight(w, shape.rows, shape.cols, bits, symmetric, shape.group);
        ties += want.ties;
        clamped += want.clamped;
        const at::Tensor weight = as_tensor(w, shape.rows, shape.cols, at::kFloat);
        for (const CpuIsa isa : available_levels()) {
          const std::string level_name = cpu_isa_name(isa);
          CAPTURE(level_name);
          const ScopedEnv level("MODELSLIM_CPU_ISA", cpu_isa_name(isa));
          REQUIRE(active_cpu_isa() == isa);
          check_against_reference(quantize_weight_minmax(weight, bits, symmetric, shape.group), want);
        }
      }
    }
  }
  // The data reaches what the test is about: exact .5 ties, and values rounded past the range.
  CHECK(ties > 1000);
  CHECK(clamped > 10);
  MESSAGE("levels checked: " << available_levels().size()
                             << " (best: " << std::string(cpu_isa_name(supported_cpu_isa())) << "), ties "
                             << ties << ", clamped " << clamped);
}

TEST_CASE("weight quantizer: float64, float16 and bfloat16 weights equal the reference on their values") {
  const std::int64_t rows = 21, cols = 96;
  for (const at::ScalarType dtype : {at::kDouble, at::kHalf, at::kBFloat16}) {
    for (const bool symmetric : {true, false}) {
      CAPTURE(dtype);
      CAPTURE(symmetric);
      std::vector<double> w = edge_case_weight(rows, cols, 32, 8, symmetric, 99);
      if (dtype == at::kHalf) {  // float16 tops out at 65504
        for (double& v : w) v = std::min(std::max(v, -6e4), 6e4);
      }
      if (dtype == at::kDouble) {  // values float32 cannot hold
        for (std::size_t i = 0; i < w.size(); i += 7) w[i] += 1e-12 * static_cast<double>(i % 5);
      }
      const at::Tensor weight = as_tensor(w, rows, cols, dtype);
      const RefWeight want =
          ref_weight(quant_math_values_of<double>(weight.to(at::kDouble)), rows, cols, 8, symmetric, 32);
      for (const CpuIsa isa : available_levels()) {
        const ScopedEnv level("MODELSLIM_CPU_ISA", cpu_isa_name(isa));
        check_against_reference(quantize_weight_minmax(weight, 8, symmetric, 32), want);
      }
    }
  }
}

TEST_CASE("weight quantizer: a matrix of many row chunks is the same on every level and thread count") {
  // ~2.4 MB of float32: several chunks, so the rows are split between threads where there are several.
  const std::int64_t rows = 300, cols = 2000;
  at::manual_seed(5);
  const at::Tensor weight = at::randn({rows, cols}) * at::exp(at::randn({rows, 1}));
  const std::vector<double> w = quant_math_values_of<double>(weight.to(at::kDouble));
  for (const bool symmetric : {true, false}) {
    const RefWeight want = ref_weight(w, rows, cols, 8, symmetric, 0);
    for (const CpuIsa isa : available_levels()) {
      for (const int threads : {1, 2, 3}) {
        const std::string level_name = cpu_isa_name(isa);
        CAPTURE(level_name);
        CAPTURE(threads);
        const ScopedEnv level("MODELSLIM_CPU_ISA", cpu_isa_name(isa));
        set_weight_quant_threads(threads);
        CHECK(weight_quant_threads() == threads);
        check_against_reference(quantize_weight_minmax(weight, 8, symmetric, 0), want);
        set_weight_quant_threads(0);
      }
    }
  }
  CHECK(weight_quant_threads() >= 1);  // automatic again
  CHECK_THROWS_AS(set_weight_quant_threads(-1), Error);
}

TEST_CASE(
    "weight quantizer: bfloat16 and float16 weights are widened a chunk at a time, never copied whole") {
  // ~1.2 MB of bfloat16: several row chunks, split between threads where there are several.
  const std::int64_t rows = 300, cols = 2000;
  at::manual_seed(6);
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    const at::Tensor weight = (at::randn({rows, cols}) * at::exp(at::randn({rows, 1}))).to(dtype);
    const std::vector<double> w = quant_math_values_of<double>(weight.to(at::kDouble));
    for (const int threads : {1, 2}) {
      CAPTURE(dtype);
      CAPTURE(threads);
      set_weight_quant_threads(threads);
      QuantizedWeight got;
      std::size_t largest = 0;
      {
        const test::LargestAllocation allocations;
        got = quantize_weight_minmax(weight, 8, false, 0);
        largest = allocations.bytes();
      }
      set_weight_quant_threads(0);
      check_against_reference(got, ref_weight(w, rows, cols, 8, false, 0));
      // A float32 copy of the weight would be rows·cols·4 bytes; even a stored-dtype one is too much.
      CHECK(largest < static_cast<std::size_t>(rows * cols * 2));
    }
  }
}

TEST_CASE("weight quantizer: NaN and ±Inf are refused on every level, in the vector body and in the tail") {
  const std::int64_t rows = 6, cols = 75;  // 75 = 64 + 8 + 3: body, short loop and scalar tail
  for (const CpuIsa isa : available_levels()) {
    const ScopedEnv level("MODELSLIM_CPU_ISA", cpu_isa_name(isa));
    for (const double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
      for (const std::int64_t col : {std::int64_t{3}, std::int64_t{40}, std::int64_t{68}, std::int64_t{74}}) {
        const std::string level_name = cpu_isa_name(isa);
        CAPTURE(level_name);
        CAPTURE(bad);
        CAPTURE(col);
        at::Tensor weight = at::randn({rows, cols});
        weight[4][col] = bad;
        for (const std::int64_t group : {std::int64_t{0}, std::int64_t{25}}) {
          try {
            quantize_weight_minmax(weight, 8, group == 0, group);
            FAIL("a non-finite weight was quantized");
          } catch (const Error& error) {
            CHECK(std::string(error.what()).find("at [4, " + std::to_string(col) + "]") != std::string::npos);
          }
        }
      }
    }
  }
}

TEST_CASE("MODELSLIM_CPU_ISA: a name that is no level is refused, naming the variable") {
  const ScopedEnv level("MODELSLIM_CPU_ISA", "sse9");
  try {
    quantize_weight_minmax(at::ones({2, 8}), 8, true, 0);
    FAIL("expected an Error");
  } catch (const Error& error) {
    CHECK(std::string(error.what()).find("MODELSLIM_CPU_ISA=sse9") != std::string::npos);
  }
}
