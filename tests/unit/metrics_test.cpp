// Metric arithmetic against hand-derived values.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "modelslim/metrics.hpp"

using namespace modelslim;

TEST_CASE("next-token NLL and accuracy") {
  // Row t predicts ids[t+1]. Row 0: uniform over 2 → nll ln 2, argmax 0 (first) ≠ 1. Row 1: p(0) = 3/4 → nll
  // ln(4/3).
  const at::Tensor logits = at::tensor({0.0, 0.0, std::log(3.0), 0.0, 5.0, 1.0}, at::kDouble).reshape({3, 2});
  const NextTokenStats stats = next_token_stats(logits, {0, 1, 0});
  CHECK(stats.tokens == 2);
  CHECK(stats.correct == 1);
  CHECK(stats.nll_sum == doctest::Approx(std::log(2.0) + std::log(4.0 / 3.0)));
  CHECK(next_token_stats(logits, {0}).tokens == 0);
}

TEST_CASE("continuation log-probability sums the continuation tokens only") {
  const at::Tensor logits =
      at::tensor({0.0, 0.0, std::log(3.0), 0.0, 0.0, std::log(3.0)}, at::kDouble).reshape({3, 2});
  // ids = [ctx0, c1=0, c2=1]: log p(0 | row 0) + log p(1 | row 1) = ln(1/2) + ln(1/4).
  CHECK(continuation_log_prob(logits, {1, 0, 1}, 1) == doctest::Approx(std::log(0.5) + std::log(0.25)));
  CHECK(continuation_log_prob(logits, {1, 0, 1}, 2) == doctest::Approx(std::log(0.25)));
}

TEST_CASE("fidelity: top-1 agreement and KL(p_ref || p_quant)") {
  const at::Tensor reference = at::tensor({0.0, 0.0, 2.0, 0.0}, at::kDouble).reshape({2, 2});
  const at::Tensor quant = at::tensor({std::log(3.0), 0.0, 2.0, 0.0}, at::kDouble).reshape({2, 2});
  const FidelityStats stats = fidelity_stats(reference, quant);
  CHECK(stats.positions == 2);
  CHECK(stats.top1_agree == 2);  // row 0: uniform reference argmax 0, quant argmax 0
  CHECK(stats.kl_sum == doctest::Approx(0.5 * std::log(0.5 / 0.75) + 0.5 * std::log(0.5 / 0.25)));
  CHECK(fidelity_stats(reference, reference).kl_sum == doctest::Approx(0.0));
}
