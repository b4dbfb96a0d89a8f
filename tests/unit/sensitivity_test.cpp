// Sensitivity statistics against hand-derived values and a scalar two-pass computation.
#include "support/doctest.hpp"

#include <cmath>
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
