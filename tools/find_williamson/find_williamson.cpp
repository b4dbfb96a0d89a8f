// Searches symmetric circulant Williamson matrices of odd order n: four symmetric ±1 sequences A, B, C, D
// with PAF_A(s) + PAF_B(s) + PAF_C(s) + PAF_D(s) = 0 for s ≠ 0 (equivalently A² + B² + C² + D² = 4n·I).
//
//   find_williamson <n> [max_solutions=1]
//
// Method (the classical one): for each split 4n = a² + b² + c² + d² into odd squares, list the symmetric
// sequences with row sum a (b, c, d) whose power spectral density stays ≤ 4n at every frequency, reduce the
// first set modulo the multipliers of Z_n (applying one multiplier to all four keeps a solution a solution),
// then meet in the middle: pairs (A, B) with PSD_A + PSD_B ≤ 4n go into a hash table keyed by a linear hash
// of PAF_A + PAF_B; pairs (C, D) look up the negated hash of PAF_C + PAF_D; hits are verified exactly.
// Prints the first rows as strings of '+' and '-' (what sdk/src/hadamard.cpp records).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Sequence {
  std::vector<int> x;            // full first row, length n
  std::vector<double> spectrum;  // f(k) = Σ_j x_j cos(2πjk/n), k = 1..m (real: x is symmetric)
  std::vector<int> paf;          // periodic autocorrelation, s = 1..m
  std::uint64_t hash = 0;        // Σ_s PAF(s)·R_s: linear, so hash(PAF_X + PAF_Y) = hash_X + hash_Y
};

struct Searcher {
  int n;
  int m;
  std::vector<std::vector<double>> cosines;  // [k][j]
  std::vector<std::uint64_t> weights;        // R_s

  explicit Searcher(int order) : n(order), m((order - 1) / 2) {
    cosines.assign(m + 1, std::vector<double>(n));
    for (int k = 1; k <= m; ++k)
      for (int j = 0; j < n; ++j) cosines[k][j] = std::cos(2.0 * M_PI * j * k / n);
    std::mt19937_64 random(12345);
    weights.resize(m + 1);
    for (auto& w : weights) w = random();
  }

  std::vector<int> expand(std::uint64_t bits) const {
    std::vector<int> x(n);
    x[0] = (bits & 1) ? -1 : 1;
    for (int j = 1; j <= m; ++j) x[j] = x[n - j] = ((bits >> j) & 1) ? -1 : 1;
    return x;
  }

  // The symmetric sequences with row sum r whose PSD is ≤ 4n everywhere.
  std::vector<Sequence> admissible(int r) const {
    std::vector<Sequence> out;
    const double bound = 4.0 * n + 1e-6;
    for (std::uint64_t bits = 0; bits < (std::uint64_t{1} << (m + 1)); ++bits) {
      int sum = (bits & 1) ? -1 : 1;
      for (int j = 1; j <= m; ++j) sum += ((bits >> j) & 1) ? -2 : 2;
      if (sum != r) continue;
      Sequence s;
      s.x = expand(bits);
      s.spectrum.resize(m + 1);
      bool ok = true;
      for (int k = 1; k <= m && ok; ++k) {
        double f = 0;
        for (int j = 0; j < n; ++j) f += s.x[j] * cosines[k][j];
        s.spectrum[k] = f * f;
        ok = s.spectrum[k] <= bound;
      }
      if (!ok) continue;
      s.paf.assign(m + 1, 0);
      for (int shift = 1; shift <= m; ++shift) {
        int acc = 0;
        for (int i = 0; i < n; ++i) acc += s.x[i] * s.x[(i + shift) % n];
        s.paf[shift] = acc;
        s.hash += static_cast<std::uint64_t>(static_cast<std::int64_t>(acc)) * weights[shift];
      }
      out.push_back(std::move(s));
    }
    return out;
  }

  // Keeps one sequence per orbit of x_j → x_{tj} (t a unit of Z_n).
  std::vector<Sequence> canonical(const std::vector<Sequence>& all) const {
    std::vector<int> units;
    for (int t = 1; t <= m; ++t)
      if (std::gcd(t, n) == 1) units.push_back(t);
    std::vector<Sequence> out;
    for (const auto& s : all) {
      bool smallest = true;
      for (int t : units) {
        std::vector<int> y(n);
        for (int j = 0; j < n; ++j) y[j] = s.x[(static_cast<long>(t) * j) % n];
        if (std::lexicographical_compare(y.begin(), y.end(), s.x.begin(), s.x.end())) {
          smallest = false;
          break;
        }
      }
      if (smallest) out.push_back(s);
    }
    return out;
  }

  bool verify(const Sequence* s[4]) const {
    for (int shift = 1; shift <= m; ++shift)
      if (s[0]->paf[shift] + s[1]->paf[shift] + s[2]->paf[shift] + s[3]->paf[shift] != 0) return false;
    return true;
  }
};

std::string row(const std::vector<int>& x) {
  std::string out;
  for (int v : x) out += v > 0 ? '+' : '-';
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: find_williamson <odd n> [max_solutions]\n");
    return 2;
  }
  const int n = std::atoi(argv[1]);
  const int wanted = argc > 2 ? std::atoi(argv[2]) : 1;
  if (n < 3 || n % 2 == 0 || n > 61) {
    std::fprintf(stderr, "n must be odd, 3..61\n");
    return 2;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  Searcher searcher(n);
  // Odd a ≥ b ≥ c ≥ d > 0 with a² + b² + c² + d² = 4n.
  std::vector<std::vector<int>> splits;
  for (int a = 1; a * a <= 4 * n; a += 2)
    for (int b = 1; b <= a; b += 2)
      for (int c = 1; c <= b; c += 2)
        for (int d = 1; d <= c; d += 2)
          if (a * a + b * b + c * c + d * d == 4 * n) splits.push_back({a, b, c, d});
  std::unordered_map<int, std::vector<Sequence>> by_sum;
  int found = 0;
  for (const auto& split : splits) {
    for (int r : split)
      if (!by_sum.count(r)) {
        by_sum[r] = searcher.admissible(r);
        std::fprintf(stderr, "[%.1fs] row sum %d: %zu admissible\n", elapsed(), r, by_sum[r].size());
      }
    // Put the largest set first (reduced by multipliers); the remaining three split into (B) and (C, D).
    std::vector<int> order = split;
    std::sort(order.begin(), order.end(), [&](int p, int q) { return by_sum[p].size() > by_sum[q].size(); });
    const std::vector<Sequence> first = searcher.canonical(by_sum[order[0]]);
    // Sorted by PSD(1) so the inner loops stop at the first partner whose PSD(1) is too large.
    const auto by_first = [](std::vector<Sequence> v) {
      std::sort(v.begin(), v.end(),
                [](const Sequence& p, const Sequence& q) { return p.spectrum[1] < q.spectrum[1]; });
      return v;
    };
    const std::vector<Sequence> second = by_first(by_sum[order[1]]);
    const std::vector<Sequence> third = by_first(by_sum[order[2]]);
    const std::vector<Sequence> fourth = by_first(by_sum[order[3]]);
    std::fprintf(stderr, "[%.1fs] split %d %d %d %d: %zu x %zu | %zu x %zu\n", elapsed(), order[0], order[1],
                 order[2], order[3], first.size(), second.size(), third.size(), fourth.size());
    const double bound = 4.0 * n + 1e-6;
    const auto flat = [&](const std::vector<Sequence>& v) {
      std::vector<float> out;
      for (const auto& s : v)
        for (int k = 1; k <= searcher.m; ++k) out.push_back(static_cast<float>(s.spectrum[k]));
      return out;
    };
    const std::vector<float> f1 = flat(first), f2 = flat(second), f3 = flat(third), f4 = flat(fourth);
    const int m = searcher.m;
    const float fbound = static_cast<float>(bound) + 1e-3F;
    const auto fits = [&](const float* p, const float* q) {
      for (int k = 0; k < m; ++k)
        if (p[k] + q[k] > fbound) return false;
      return true;
    };
    struct Entry {
      std::uint64_t key;
      std::uint32_t i, j;
    };
    std::vector<Entry> left;
    for (std::uint32_t i = 0; i < first.size(); ++i)
      for (std::uint32_t j = 0; j < second.size(); ++j) {
        if (f1[i * m] + f2[j * m] > fbound) break;
        if (fits(&f1[i * m], &f2[j * m])) left.push_back({first[i].hash + second[j].hash, i, j});
      }
    std::sort(left.begin(), left.end(), [](const Entry& p, const Entry& q) { return p.key < q.key; });
    // A 2^30-bit presence filter keeps the misses (nearly all probes) out of the binary search.
    std::vector<std::uint64_t> filter(std::size_t{1} << 24, 0);
    for (const auto& e : left) filter[(e.key >> 34) >> 6] |= std::uint64_t{1} << ((e.key >> 34) & 63);
    std::fprintf(stderr, "[%.1fs] %zu (A, B) pairs\n", elapsed(), left.size());
    const bool same = order[2] == order[3];
    for (std::uint32_t i = 0; i < third.size() && found < wanted; ++i) {
      for (std::uint32_t j = same ? i : 0; j < fourth.size() && found < wanted; ++j) {
        if (f3[i * m] + f4[j * m] > fbound) break;
        if (!fits(&f3[i * m], &f4[j * m])) continue;
        const std::uint64_t key = std::uint64_t{0} - (third[i].hash + fourth[j].hash);
        if (!((filter[(key >> 34) >> 6] >> ((key >> 34) & 63)) & 1)) continue;
        auto it = std::lower_bound(left.begin(), left.end(), key,
                                   [](const Entry& e, std::uint64_t k) { return e.key < k; });
        for (; it != left.end() && it->key == key && found < wanted; ++it) {
          const Sequence* s[4] = {&first[it->i], &second[it->j], &third[i], &fourth[j]};
          if (!searcher.verify(s)) continue;
          ++found;
          std::printf("n=%d row sums %d %d %d %d (%.1fs)\n", n, order[0], order[1], order[2], order[3],
                      elapsed());
          for (const auto* seq : s) std::printf("%s\n", row(seq->x).c_str());
          std::fflush(stdout);
        }
      }
      if (i % 5000 == 0) std::fprintf(stderr, "[%.1fs] %u / %zu\n", elapsed(), i, third.size());
    }
    std::fprintf(stderr, "[%.1fs] split done, %d found\n", elapsed(), found);
    if (found >= wanted) break;
  }
  return found > 0 ? 0 : 1;
}
