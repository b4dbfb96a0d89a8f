// Histogram calibration: the clip search picks the same window as an independent brute-force evaluation of
// every candidate (scale/offset by the reference formula, written out here), clips outliers that would
// waste the grid, keeps the full range for uniform data, and re-bins correctly when the range grows.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "modelslim/histogram_observer.hpp"
#include "modelslim/quant_math.hpp"

using namespace modelslim;

namespace {

// Reference §3 integer math for one window, in plain doubles.
double window_error(const HistogramObserver& h, double lo, double hi, int bits, bool symmetric) {
  const double eps = std::numeric_limits<float>::epsilon();
  const double mn = std::min(lo, 0.0);
  const double mx = std::max(hi, 0.0);
  const double qmin = -std::pow(2.0, bits - 1);
  const double qmax = std::pow(2.0, bits - 1) - 1;
  double scale;
  double offset = 0.0;
  if (symmetric) {
    scale = std::max(std::max(-mn, mx) / qmax, eps);
  } else {
    scale = std::max((mx - mn) / (std::pow(2.0, bits) - 1), eps);
    offset = std::nearbyint(-mn / scale) + qmin;
  }
  scale = static_cast<float>(scale);  // the implementation stores float32 scales
  const auto counts = h.counts();
  const std::int64_t bins = counts.size(0);
  const double width = (h.range().max - h.range().min) / static_cast<double>(bins);
  double error = 0.0;
  double total = 0.0;
  for (std::int64_t b = 0; b < bins; ++b) {
    const double n = counts[b].item<double>();
    if (n == 0.0) continue;
    const double centre = h.range().min + (static_cast<double>(b) + 0.5) * width;
    const double q = std::min(qmax, std::max(qmin, std::nearbyint(centre / scale + offset)));
    error += n * std::pow((q - offset) * scale - centre, 2);
    total += n;
  }
  return error / total;
}

HistogramObserver outlier_histogram() {
  at::manual_seed(11);
  HistogramObserver h(512);
  h.update(at::randn({20000}));
  at::Tensor second = at::randn({20000});
  second[0] = 60.0;  // a few outliers far outside the first batch's range: forces re-binning
  second[1] = -45.0;
  second[2] = 58.0;
  h.update(second);
  return h;
}

}  // namespace

TEST_CASE("re-binning keeps every sample") {
  const HistogramObserver h = outlier_histogram();
  CHECK(h.counts().sum().item<double>() == doctest::Approx(40000.0));
  CHECK(h.range().min == doctest::Approx(-45.0));
  CHECK(h.range().max == doctest::Approx(60.0));
}

TEST_CASE("non-finite values are dropped and counted") {
  HistogramObserver h(64);
  h.update(at::tensor({1.0F, std::numeric_limits<float>::infinity(), -2.0F, std::nanf("")}));
  CHECK(h.dropped() == 2);
  CHECK(h.counts().sum().item<double>() == 2.0);
}

TEST_CASE("symmetric search equals a brute-force scan and clips the outliers") {
  const HistogramObserver h = outlier_histogram();
  const int steps = 64;
  const ClipRange chosen = h.search_clip(8, true, steps);
  const double bound = std::max(std::abs(h.range().min), std::abs(h.range().max));
  double best = std::numeric_limits<double>::infinity();
  double best_c = 0.0;
  for (int i = steps; i >= 1; --i) {
    const double c = bound * i / steps;
    const double e = window_error(h, -c, c, 8, true);
    if (e < best) {
      best = e;
      best_c = c;
    }
  }
  CHECK(chosen.max == doctest::Approx(best_c));
  CHECK(chosen.min == doctest::Approx(-best_c));
}

TEST_CASE("heavy-tailed activations are clipped well inside their min/max") {
  at::manual_seed(5);
  HistogramObserver h(2048);
  h.update(at::randn({200000}) * at::exp(at::randn({200000}) * 1.5));  // a log-normal scale mixture
  const double bound = std::max(std::abs(h.range().min), std::abs(h.range().max));
  const ClipRange chosen = h.search_clip(8, true);
  MESSAGE("min/max bound " << bound << ", chosen clip " << chosen.max);
  CHECK(chosen.max < 0.8 * bound);
  const double minmax_error = window_error(h, -bound, bound, 8, true);
  MESSAGE("error: min/max " << minmax_error << ", chosen " << h.quantization_error(chosen, 8, true));
  CHECK(h.quantization_error(chosen, 8, true) < 0.8 * minmax_error);
}

TEST_CASE("asymmetric search equals a brute-force scan") {
  const HistogramObserver h = outlier_histogram();
  const int steps = 24;
  const ClipRange chosen = h.search_clip(8, false, steps);
  const double lo = h.range().min;
  const double hi = h.range().max;
  double best = std::numeric_limits<double>::infinity();
  ClipRange expected;
  for (int i = 0; i < steps; ++i) {
    for (int j = steps; j > i; --j) {
      const double a = lo + (hi - lo) * i / steps;
      const double b = lo + (hi - lo) * j / steps;
      const double e = window_error(h, a, b, 8, false);
      if (e < best) {
        best = e;
        expected = {a, b};
      }
    }
  }
  CHECK(chosen.min == doctest::Approx(expected.min));
  CHECK(chosen.max == doctest::Approx(expected.max));
}

TEST_CASE("uniform data keeps (nearly) its full range") {
  HistogramObserver h(1024);
  at::manual_seed(3);
  h.update(at::rand({50000}) * 8.0 - 3.0);
  const ClipRange chosen = h.search_clip(8, false);
  CHECK(chosen.min < -2.8);
  CHECK(chosen.max > 4.8);
}
