// Sensitivity statistics against hand-derived values and a scalar two-pass computation.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "modelslim/sensitivity.hpp"

using namespace modelslim;

TEST_CASE("hand-derived: {1, 2, 3, 4} has mean 2.5, variance 1.25, kurtosis 1.64") {
  MomentAccumulator m;
  m.update(at::tensor({1.0, 2.0}));
  m.update(at::tensor({3.0, 4.0}));  // two batches accumulate
  CHECK(m.count() == 4.0);
  CHECK(m.mean() == doctest::Approx(2.5));
  CHECK(m.stddev() == doctest::Approx(std::sqrt(1.25)));
  // central 4th moment: (1.5^4 + 0.5^4 + 0.5^4 + 1.5^4) / 4 = 2.5625; / 1.25^2 = 1.64
  CHECK(m.kurtosis() == doctest::Approx(1.64));
}

TEST_CASE("matches a two-pass scalar computation on heavy-tailed data; constant data has kurtosis 0") {
  at::manual_seed(4);
  const at::Tensor x = at::randn({5000}, at::kDouble) * at::exp(at::randn({5000}, at::kDouble));
  MomentAccumulator m;
  m.update(x.narrow(0, 0, 2000));
  m.update(x.narrow(0, 2000, 3000).to(at::kFloat).to(at::kDouble));
  std::vector<double> v(x.data_ptr<double>(), x.data_ptr<double>() + 5000);
  double mean = 0.0;
  for (double e : v) mean += e;
  mean /= 5000.0;
  double c2 = 0.0, c4 = 0.0;
  for (double e : v) {
    c2 += std::pow(e - mean, 2);
    c4 += std::pow(e - mean, 4);
  }
  c2 /= 5000.0;
  c4 /= 5000.0;
  CHECK(m.stddev() == doctest::Approx(std::sqrt(c2)).epsilon(1e-6));
  CHECK(m.kurtosis() == doctest::Approx(c4 / (c2 * c2)).epsilon(1e-6));
  CHECK(m.kurtosis() > 10.0);  // heavy tails

  MomentAccumulator flat;
  flat.update(at::full({10}, 3.0));
  CHECK(flat.kurtosis() == 0.0);
}

namespace {
// The quantile metric computed without the class: per tensor std::sort and every 100th value from 50,
// then Q1/Q3 of the sorted union.
double scalar_quantile_score(const std::vector<std::vector<double>>& tensors) {
  std::vector<double> sample;
  double max_abs = 0.0;
  for (std::vector<double> values : tensors) {
    for (double v : values) max_abs = std::max(max_abs, std::abs(v));
    std::sort(values.begin(), values.end());
    for (std::size_t i = 50; i < values.size(); i += 100) sample.push_back(values[i]);
  }
  std::sort(sample.begin(), sample.end());
  const std::size_t n = sample.size();
  return 2.0 * max_abs / 254.0 / (sample[3 * (n / 4)] - sample[n / 4] + 1e-10);
}

std::vector<double> sensitivity_to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}
}  // namespace

TEST_CASE("quantile, hand-derived: a shuffled 0..399 then -1000..-801 in a [4, 50] tensor") {
  QuantileSampler q;
  at::manual_seed(1);
  const at::Tensor first = at::arange(400, at::kDouble).index_select(0, at::randperm(400));
  q.update(first.reshape({20, 20}));
  // sorted 0..399, every 100th from 50: {50, 150, 250, 350}; Q1 = s[1] = 150, Q3 = s[3] = 350
  CHECK(q.sample_size() == 4);
  CHECK(q.q1() == 150.0);
  CHECK(q.q3() == 350.0);
  CHECK(q.score() == doctest::Approx(2.0 * 399.0 / 254.0 / 200.0));
  q.update((at::arange(200, at::kDouble) - 1000.0).flip(0).reshape({4, 50}));
  // adds {-950, -850}: sorted {-950, -850, 50, 150, 250, 350}; n/4 = 1 → Q1 = -850, Q3 = s[3] = 150
  CHECK(q.sample_size() == 6);
  CHECK(q.q1() == -850.0);
  CHECK(q.q3() == 150.0);
  CHECK(q.max_abs() == 1000.0);
  CHECK(q.score() == doctest::Approx(2.0 * 1000.0 / 254.0 / 1000.0));
}

TEST_CASE("quantile matches a scalar std::sort computation on heavy-tailed float inputs") {
  at::manual_seed(7);
  QuantileSampler q;
  std::vector<std::vector<double>> tensors;
  for (const std::int64_t n : {3000, 51, 50, 12345, 777}) {
    // float32 like real activations; a few planted outliers drive max|x|
    at::Tensor x = (at::randn({n}) * at::exp(at::randn({n}))).to(at::kFloat);
    if (n > 100) x.narrow(0, n / 3, 1).fill_(500.0);
    q.update(x.reshape({1, -1}));
    tensors.push_back(sensitivity_to_vector(x));
  }
  // 30 + 1 + 0 + 123 + 8 samples (a 50-value tensor has no index 50)
  CHECK(q.sample_size() == 162);
  CHECK(q.max_abs() == 500.0);
  CHECK(q.score() == doctest::Approx(scalar_quantile_score(tensors)).epsilon(1e-12));
  CHECK(QuantileSampler().score() == 0.0);
}

TEST_CASE("quantile memory stays bounded: decimation doubles the stride and keeps the estimate") {
  at::manual_seed(3);
  QuantileSampler capped(64);
  QuantileSampler full;
  std::vector<std::vector<double>> tensors;
  double max_abs = 0.0;
  for (int i = 0; i < 40; ++i) {
    const at::Tensor x = at::randn({1000}, at::kDouble) * (1.0 + i % 3);
    capped.update(x);
    full.update(x);
    max_abs = std::max(max_abs, x.abs().max().item<double>());
    tensors.push_back(sensitivity_to_vector(x));
  }
  CHECK(full.sample_size() == 400);
  CHECK(capped.sample_size() <= 64);
  CHECK(capped.sample_size() >= 16);
  CHECK(capped.stride() > 100);
  CHECK(capped.max_abs() == max_abs);  // exact whatever was dropped
  CHECK(full.score() == doctest::Approx(scalar_quantile_score(tensors)).epsilon(1e-12));
  CHECK(capped.score() == doctest::Approx(full.score()).epsilon(0.15));
}

TEST_CASE("quantile leaves NaNs out of the sample and of max|x|") {
  QuantileSampler q;
  at::Tensor x = at::arange(201, at::kFloat);
  x.narrow(0, 7, 1).fill_(std::nan(""));  // 0..200 without 7, plus a NaN: 200 finite values
  q.update(x);
  q.update(at::full({3}, std::nan(""), at::kFloat));
  // sorted finite values: 0..6, 8..200; indices 50 and 150 hold 51 and 151
  CHECK(q.sample_size() == 2);
  CHECK(q.q1() == 51.0);  // n = 2: n/4 = 0 → both quartiles are s[0]
  CHECK(q.q3() == 51.0);
  CHECK(q.max_abs() == 200.0);
}
