// Hadamard constructions: every supported order has ±1 entries and H·Hᵀ = n·I exactly (checked in exact
// float64 integer arithmetic); the base order follows the reference's largest-K rule; other orders are
// refused naming n.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <string>

#include "modelslim/error.hpp"
#include "modelslim/hadamard.hpp"

using namespace modelslim;

namespace {
void check_hadamard(std::int64_t n) {
  CAPTURE(n);
  const at::Tensor h = hadamard_matrix(n);
  REQUIRE((h.scalar_type() == at::kDouble));
  REQUIRE(h.sizes() == at::IntArrayRef({n, n}));
  CHECK(h.abs().eq(1).all().item<bool>());
  // float64 sums of ±1 products are exact integers (|sum| ≤ n ≪ 2^53).
  const at::Tensor gram = at::matmul(h, h.t());
  CHECK(at::equal(gram, at::eye(n, at::kDouble) * static_cast<double>(n)));
}

void check_refused(std::int64_t n) {
  CAPTURE(n);
  CHECK_FALSE(hadamard_supported(n));
  for (int call = 0; call < 2; ++call) {
    try {
      if (call == 0) {
        hadamard_matrix(n);
      } else {
        hadamard_base_order(n);
      }
      FAIL("expected an error");
    } catch (const Error& error) {
      CHECK(error.code() == ErrorCode::kUnsupported);
      const std::string message = error.what();
      CHECK(message.find(std::to_string(n)) != std::string::npos);
      CHECK(message.find("K·2^m") != std::string::npos);
    }
  }
}
}  // namespace

TEST_CASE("powers of two (Sylvester)") {
  for (std::int64_t n = 1; n <= 4096; n *= 2) {
    CHECK(hadamard_supported(n));
    CHECK(hadamard_base_order(n) == 1);
    check_hadamard(n);
  }
}

TEST_CASE("every base K, 2K and 4K") {
  for (const std::int64_t base : hadamard_bases()) {
    for (const std::int64_t factor : {1, 2, 4}) {
      const std::int64_t n = base * factor;
      CHECK(hadamard_supported(n));
      CHECK(hadamard_base_order(n) >= base);  // 2·20 = 40 and 4·40 = 160 are bases themselves
      check_hadamard(n);
    }
  }
}

TEST_CASE("Williamson bases 156 = 4·39 and 172 = 4·43 and model-sized mixed orders") {
  for (const std::int64_t n : {156, 172, 768, 896, 1536}) check_hadamard(n);
  // 5504 = 172·32 (half of llama's 11008): a 5504³ product is slow on a shared CPU, so check that it is
  // Sylvester(32) ⊗ H_172 — the Kronecker product of two verified Hadamard matrices is one.
  const at::Tensor h = hadamard_matrix(5504);
  CHECK(h.abs().eq(1).all().item<bool>());
  CHECK(at::equal(h, at::kron(hadamard_matrix(32), hadamard_matrix(172))));
}

TEST_CASE("base order follows the largest-K rule") {
  CHECK(hadamard_base_order(1) == 1);
  CHECK(hadamard_base_order(4096) == 1);
  CHECK(hadamard_base_order(11008) == 172);  // 172·64
  CHECK(hadamard_base_order(13824) == 108);  // 108·128
  CHECK(hadamard_base_order(3584) == 28);    // 28·128
  CHECK(hadamard_base_order(5120) == 160);   // 160·32 = 40·128 = 20·256: the largest wins
  CHECK(hadamard_base_order(24) == 12);      // 12·2
  CHECK(hadamard_base_order(20) == 20);
  CHECK(hadamard_base_order(40) == 40);     // 40 = 20·2
  CHECK(hadamard_base_order(80) == 40);     // 40·2 = 20·4
  CHECK(hadamard_base_order(160) == 160);   // 160 = 40·4 = 20·8
  CHECK(hadamard_base_order(320) == 160);   // 160·2 = 40·8 = 20·16
  CHECK(hadamard_base_order(104) == 52);    // 52·2
  CHECK(hadamard_base_order(56) == 28);     // 28·2
  CHECK(hadamard_base_order(272) == 136);   // 136·2
  CHECK(hadamard_base_order(768) == 12);    // 12·64
  CHECK(hadamard_base_order(5504) == 172);  // 172·32
  CHECK(hadamard_base_order(1248) == 156);  // 156·8
  CHECK(hadamard_base_order(6400) == 200);  // 200·32
}

TEST_CASE("unsupported orders are refused naming the order") {
  // 44 = 4·11 and 88 = 8·11 are Hadamard orders, but not of the supported forms; 100 = 4·25 neither.
  for (const std::int64_t n : {0, -4, 3, 6, 14, 44, 88, 92, 100, 4095, 11000}) check_refused(n);
}
