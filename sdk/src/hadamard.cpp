#include "modelslim/hadamard.hpp"

#include <optional>
#include <string>

#include "modelslim/error.hpp"

namespace modelslim {
namespace {

bool is_power_of_two(std::int64_t n) {
  return n > 0 && (n & (n - 1)) == 0;
}

struct PrimePower {
  std::int64_t p = 0;
  int k = 0;
};

std::optional<PrimePower> as_prime_power(std::int64_t q) {
  if (q < 2) return std::nullopt;
  std::int64_t p = 2;
  while (p * p <= q && q % p != 0) ++p;
  if (q % p != 0) p = q;  // q is prime
  int k = 0;
  while (q % p == 0) {
    q /= p;
    ++k;
  }
  if (q != 1) return std::nullopt;
  return PrimePower{p, k};
}

// GF(p^k), elements encoded as base-p digit vectors (polynomials in x) packed into integers 0..q−1.
class GaloisField {
 public:
  explicit GaloisField(PrimePower pk) : p_(pk.p), k_(pk.k) {
    q_ = 1;
    for (int i = 0; i < k_; ++i) q_ *= p_;
    if (k_ > 1) modulus_ = find_irreducible();
    // χ(x): +1 for non-zero squares, −1 for non-squares, 0 for zero (the quadratic character).
    character_.assign(static_cast<std::size_t>(q_), -1);
    character_[0] = 0;
    for (std::int64_t x = 1; x < q_; ++x) character_[static_cast<std::size_t>(multiply(x, x))] = 1;
  }

  std::int64_t order() const { return q_; }
  int character(std::int64_t x) const { return character_[static_cast<std::size_t>(x)]; }

  std::int64_t subtract(std::int64_t a, std::int64_t b) const {
    std::int64_t result = 0;
    std::int64_t place = 1;
    for (int i = 0; i < k_; ++i) {
      const std::int64_t digit = ((a % p_) - (b % p_) + p_) % p_;
      result += digit * place;
      a /= p_;
      b /= p_;
      place *= p_;
    }
    return result;
  }

 private:
  std::vector<std::int64_t> digits(std::int64_t x) const {
    std::vector<std::int64_t> d(static_cast<std::size_t>(k_));
    for (auto& digit : d) {
      digit = x % p_;
      x /= p_;
    }
    return d;
  }

  std::int64_t multiply(std::int64_t a, std::int64_t b) const {
    if (k_ == 1) return (a * b) % p_;
    const auto da = digits(a);
    const auto db = digits(b);
    std::vector<std::int64_t> product(static_cast<std::size_t>(2 * k_ - 1), 0);
    for (int i = 0; i < k_; ++i)
      for (int j = 0; j < k_; ++j) product[i + j] = (product[i + j] + da[i] * db[j]) % p_;
    // Reduce with x^k = −(m_{k−1} x^{k−1} + … + m_0), modulus_ holding m_0..m_{k−1} (monic).
    for (int degree = 2 * k_ - 2; degree >= k_; --degree) {
      const std::int64_t top = product[degree];
      product[degree] = 0;
      for (int i = 0; i < k_; ++i) {
        product[degree - k_ + i] = ((product[degree - k_ + i] - top * modulus_[i]) % p_ + p_) % p_;
      }
    }
    std::int64_t result = 0;
    for (int i = k_ - 1; i >= 0; --i) result = result * p_ + product[i];
    return result;
  }

  // A monic polynomial of degree k (2 or 3) without roots in GF(p) is irreducible.
  std::vector<std::int64_t> find_irreducible() const {
    std::int64_t candidates = 1;
    for (int i = 0; i < k_; ++i) candidates *= p_;
    for (std::int64_t code = 0; code < candidates; ++code) {
      std::vector<std::int64_t> m(static_cast<std::size_t>(k_));
      std::int64_t c = code;
      for (auto& coefficient : m) {
        coefficient = c % p_;
        c /= p_;
      }
      bool has_root = false;
      for (std::int64_t x = 0; x < p_ && !has_root; ++x) {
        std::int64_t value = 1;  // x^k + m_{k−1}x^{k−1} + … + m_0 by Horner
        for (int i = k_ - 1; i >= 0; --i) value = (value * x + m[static_cast<std::size_t>(i)]) % p_;
        has_root = value == 0;
      }
      if (!has_root) return m;
    }
    throw Error(ErrorCode::kUnexpected, "no irreducible polynomial of degree " + std::to_string(k_));
  }

  std::int64_t p_;
  int k_;
  std::int64_t q_ = 1;
  std::vector<std::int64_t> modulus_;
  std::vector<int> character_;
};

// Jacobsthal matrix Q[a][b] = χ(a − b) over GF(q).
at::Tensor jacobsthal(const GaloisField& field) {
  const std::int64_t q = field.order();
  at::Tensor matrix = at::empty({q, q}, at::kFloat);
  auto access = matrix.accessor<float, 2>();
  for (std::int64_t a = 0; a < q; ++a)
    for (std::int64_t b = 0; b < q; ++b)
      access[a][b] = static_cast<float>(field.character(field.subtract(a, b)));
  return matrix;
}

// [[0, 1ᵀ], [sign·1, Q]]: the core of both Paley constructions.
at::Tensor bordered(const at::Tensor& jacobsthal_matrix, float column_sign) {
  const std::int64_t q = jacobsthal_matrix.size(0);
  at::Tensor core = at::zeros({q + 1, q + 1}, at::kFloat);
  core.index_put_({0, at::indexing::Slice(1, at::indexing::None)}, 1.0);
  core.index_put_({at::indexing::Slice(1, at::indexing::None), 0}, column_sign);
  core.index_put_({at::indexing::Slice(1, at::indexing::None), at::indexing::Slice(1, at::indexing::None)},
                  jacobsthal_matrix);
  return core;
}

// Paley I: q ≡ 3 (mod 4), order q + 1: H = I + S with S the skew conference matrix.
at::Tensor paley_one(const GaloisField& field) {
  const at::Tensor skew = bordered(jacobsthal(field), -1.0F);
  return at::eye(field.order() + 1, at::kFloat) + skew;
}

// Paley II: q ≡ 1 (mod 4), order 2(q + 1): H = C ⊗ [[1, 1], [1, −1]] + I ⊗ [[1, −1], [−1, −1]].
at::Tensor paley_two(const GaloisField& field) {
  const at::Tensor conference = bordered(jacobsthal(field), 1.0F);
  const at::Tensor plus = at::tensor({1.0F, 1.0F, 1.0F, -1.0F}).reshape({2, 2});
  const at::Tensor minus = at::tensor({1.0F, -1.0F, -1.0F, -1.0F}).reshape({2, 2});
  return at::kron(conference, plus) + at::kron(at::eye(field.order() + 1, at::kFloat), minus);
}

// Sylvester: H_{2n} = [[H, H], [H, −H]].
at::Tensor sylvester(std::int64_t n) {
  at::Tensor h = at::ones({1, 1}, at::kFloat);
  const at::Tensor two = at::tensor({1.0F, 1.0F, 1.0F, -1.0F}).reshape({2, 2});
  for (std::int64_t size = 1; size < n; size *= 2) h = at::kron(two, h);
  return h;
}

// The first known construction for order n: Sylvester, Paley I, Paley II, or H_2 ⊗ (order n/2).
std::optional<at::Tensor> construct(std::int64_t n) {
  if (is_power_of_two(n)) return sylvester(n);
  if (n % 4 != 0) return std::nullopt;
  if (const auto q = as_prime_power(n - 1); q && (n - 1) % 4 == 3) return paley_one(GaloisField(*q));
  if (const auto q = as_prime_power(n / 2 - 1); q && (n / 2 - 1) % 4 == 1) return paley_two(GaloisField(*q));
  if (auto half = construct(n / 2)) return at::kron(sylvester(2), *half);
  return std::nullopt;
}

[[noreturn]] void unsupported(std::int64_t n, const std::string& why) {
  throw Error(ErrorCode::kUnsupported, "no Hadamard matrix of order " + std::to_string(n) + ": " + why,
              "supported orders are 2^m and K·2^m with K in 12, 20, 28, 36, 40, 52, 60, 76, 108, 136, 140, "
              "160, 200 (156·2^m and 172·2^m need m ≥ 1); use a block_size that is a power of two");
}

}  // namespace

const std::vector<std::int64_t>& hadamard_bases() {
  static const std::vector<std::int64_t> bases = {200, 172, 160, 156, 140, 136, 108, 76,
                                                  60,  52,  40,  36,  28,  20,  12};
  return bases;
}

std::int64_t hadamard_base_order(std::int64_t n) {
  if (is_power_of_two(n)) return 1;
  for (const std::int64_t base : hadamard_bases()) {
    if (n % base == 0 && is_power_of_two(n / base)) return base;
  }
  return 0;
}

bool hadamard_supported(std::int64_t n) {
  const std::int64_t base = hadamard_base_order(n);
  if (base == 0) return false;
  // 156 = 4·39 and 172 = 4·43 are reached by Paley only from 312 = 311 + 1 and 344 = 7³ + 1 upwards.
  return !((base == 156 || base == 172) && n == base);
}

at::Tensor hadamard_matrix(std::int64_t n) {
  const std::int64_t base = hadamard_base_order(n);
  if (base == 0) unsupported(n, "it is not K·2^m for a supported K");
  if (!hadamard_supported(n)) {
    unsupported(n,
                "orders 156 and 172 themselves need Williamson matrices, which this version does not build");
  }
  // The base part by its construction (156 and 172 doubled first so Paley reaches them), then Sylvester.
  std::int64_t core = base == 1 ? n : base;
  if (core == 156 || core == 172) core *= 2;
  const auto matrix = construct(core);
  if (!matrix) unsupported(n, "no construction found");
  return core == n ? *matrix : at::kron(sylvester(n / core), *matrix);
}

}  // namespace modelslim
