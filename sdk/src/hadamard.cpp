#include "modelslim/hadamard.hpp"

#include <ATen/ATen.h>

#include <array>
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
  at::Tensor matrix = at::empty({q, q}, at::kDouble);
  auto access = matrix.accessor<double, 2>();
  for (std::int64_t a = 0; a < q; ++a)
    for (std::int64_t b = 0; b < q; ++b) access[a][b] = field.character(field.subtract(a, b));
  return matrix;
}

// [[0, 1ᵀ], [sign·1, Q]]: the core of both Paley constructions.
at::Tensor bordered(const at::Tensor& jacobsthal_matrix, double column_sign) {
  using at::indexing::None;
  using at::indexing::Slice;
  const std::int64_t q = jacobsthal_matrix.size(0);
  at::Tensor core = at::zeros({q + 1, q + 1}, at::kDouble);
  core.index_put_({0, Slice(1, None)}, 1.0);
  core.index_put_({Slice(1, None), 0}, column_sign);
  core.index_put_({Slice(1, None), Slice(1, None)}, jacobsthal_matrix);
  return core;
}

GaloisField field_of_order(std::int64_t q) {
  const auto pk = as_prime_power(q);
  if (!pk) throw Error(ErrorCode::kUnexpected, "hadamard: " + std::to_string(q) + " is not a prime power");
  return GaloisField(*pk);
}

// Paley I: q ≡ 3 (mod 4) a prime power, order q + 1: H = I + S with S the skew conference matrix.
at::Tensor paley_one(std::int64_t q) {
  const at::Tensor skew = bordered(jacobsthal(field_of_order(q)), -1.0);
  return at::eye(q + 1, at::kDouble) + skew;
}

// Paley II: q ≡ 1 (mod 4) a prime power, order 2(q + 1): H = C ⊗ [[1, 1], [1, −1]] + I ⊗ [[1, −1], [−1, −1]].
at::Tensor paley_two(std::int64_t q) {
  const at::Tensor conference = bordered(jacobsthal(field_of_order(q)), 1.0);
  const at::Tensor plus = at::tensor({1.0, 1.0, 1.0, -1.0}, at::kDouble).reshape({2, 2});
  const at::Tensor minus = at::tensor({1.0, -1.0, -1.0, -1.0}, at::kDouble).reshape({2, 2});
  return at::kron(conference, plus) + at::kron(at::eye(q + 1, at::kDouble), minus);
}

// Sylvester: H_{2n} = [[H, H], [H, −H]].
at::Tensor sylvester(std::int64_t n) {
  at::Tensor h = at::ones({1, 1}, at::kDouble);
  const at::Tensor two = at::tensor({1.0, 1.0, 1.0, -1.0}, at::kDouble).reshape({2, 2});
  for (std::int64_t size = 1; size < n; size *= 2) h = at::kron(two, h);
  return h;
}

// Circulant matrix whose first row is a string of '+' / '−' ('-') signs.
at::Tensor circulant(const char* first_row) {
  const std::string row(first_row);
  const auto n = static_cast<std::int64_t>(row.size());
  at::Tensor matrix = at::empty({n, n}, at::kDouble);
  auto access = matrix.accessor<double, 2>();
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      access[i][j] = row[static_cast<std::size_t>((j - i + n) % n)] == '+' ? 1.0 : -1.0;
  return matrix;
}

// Williamson: symmetric circulant A, B, C, D with A² + B² + C² + D² = 4n·I in the Williamson array.
at::Tensor williamson(const std::array<const char*, 4>& first_rows) {
  const at::Tensor a = circulant(first_rows[0]);
  const at::Tensor b = circulant(first_rows[1]);
  const at::Tensor c = circulant(first_rows[2]);
  const at::Tensor d = circulant(first_rows[3]);
  return at::cat({at::cat({a, b, c, d}, 1), at::cat({-b, a, -d, c}, 1), at::cat({-c, d, a, -b}, 1),
                  at::cat({-d, -c, b, a}, 1)},
                 0);
}

// Williamson sequences of length 39 (row sums 5, 5, 5, 9) and 43 (row sums 7, 7, 7, 5), found by
// tools/find_williamson (`find_williamson 39`, `find_williamson 43`: a PSD-filtered meet-in-the-middle
// search, each about a minute). The unit test verifies H·Hᵀ = n·I for both.
constexpr std::array<const char*, 4> kWilliamson39 = {
    "----+++-++--++++-+-++-+-++++--++-+++---",
    "---++--+-+++-+-++-++++-++-+-+++-+--++--",
    "-+++--+-+-+++++---+--+---+++++-+-+--+++",
    "---++-+-+++++-++--++++--++-+++++-+-++--",
};
constexpr std::array<const char*, 4> kWilliamson43 = {
    "+--+++--+-+--+-+++++-++-+++++-+--+-+--+++--",
    "+-+-+----++++-++++-++--++-++++-++++----+-+-",
    "++-+--++-+++----+++-++++-+++----+++-++--+-+",
    "-++--++++-+-+++-++--------++-+++-+-++++--++",
};

// H_K for each supported base K, by the construction that reaches it.
at::Tensor base_matrix(std::int64_t k) {
  switch (k) {
    case 12:
      return paley_one(11);
    case 20:
      return paley_one(19);
    case 28:
      return paley_one(27);  // GF(3³)
    case 36:
      return paley_two(17);
    case 40:
      return at::kron(sylvester(2), paley_one(19));
    case 52:
      return paley_two(25);  // GF(5²)
    case 60:
      return paley_one(59);
    case 76:
      return paley_two(37);
    case 108:
      return paley_one(107);
    case 136:
      return at::kron(sylvester(2), paley_one(67));
    case 140:
      return paley_one(139);
    case 156:
      return williamson(kWilliamson39);
    case 160:
      return at::kron(sylvester(8), paley_one(19));
    case 172:
      return williamson(kWilliamson43);
    case 200:
      return paley_one(199);
    default:
      throw Error(ErrorCode::kUnexpected, "hadamard: no construction for base " + std::to_string(k));
  }
}

constexpr const char* kSupportedForms =
    "supported orders are 2^m and K·2^m with K in 12, 20, 28, 36, 40, 52, 60, 76, 108, 136, 140, 156, 160, "
    "172, 200";

}  // namespace

const std::vector<std::int64_t>& hadamard_bases() {
  static const std::vector<std::int64_t> bases = {200, 172, 160, 156, 140, 136, 108, 76,
                                                  60,  52,  40,  36,  28,  20,  12};
  return bases;
}

bool hadamard_supported(std::int64_t n) {
  if (is_power_of_two(n)) return true;
  for (const std::int64_t base : hadamard_bases()) {
    if (n % base == 0 && is_power_of_two(n / base)) return true;
  }
  return false;
}

std::int64_t hadamard_base_order(std::int64_t n) {
  if (is_power_of_two(n)) return 1;
  // Largest first: 5120 = 160·32 = 40·128 = 20·256 takes 160, like the reference.
  for (const std::int64_t base : hadamard_bases()) {
    if (n % base == 0 && is_power_of_two(n / base)) return base;
  }
  throw Error(ErrorCode::kUnsupported,
              "no Hadamard matrix of order " + std::to_string(n) + ": " + kSupportedForms,
              "use a size (or block_size) that is a power of two or K·2^m for a listed K");
}

at::Tensor hadamard_matrix(std::int64_t n) {
  const std::int64_t base = hadamard_base_order(n);
  if (base == 1) return sylvester(n);
  const at::Tensor core = base_matrix(base);
  return n == base ? core : at::kron(sylvester(n / base), core);
}

}  // namespace modelslim
