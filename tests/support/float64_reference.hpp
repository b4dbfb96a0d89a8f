// Plain float64 loops for checking numerical code independently of LibTorch's kernels: row-major matrices,
// products, and the quantizers as the reference defines them (round half to even, as torch.round).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace modelslim::test::f64 {

using Matrix = std::vector<std::vector<double>>;

inline Matrix from_tensor(const at::Tensor& tensor) {
  const at::Tensor t = tensor.to(at::kDouble).reshape({-1, tensor.size(-1)}).contiguous();
  Matrix m(t.size(0), std::vector<double>(t.size(1)));
  const double* data = t.data_ptr<double>();
  for (std::size_t r = 0; r < m.size(); ++r)
    for (std::size_t c = 0; c < m[r].size(); ++c) m[r][c] = data[r * m[r].size() + c];
  return m;
}

inline std::vector<double> from_vector(const at::Tensor& tensor) {
  const at::Tensor t = tensor.to(at::kDouble).contiguous();
  return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

inline double rne(double x) {
  return std::nearbyint(x);
}  // default rounding mode: half to even

// a · bᵀ
inline Matrix matmul_t(const Matrix& a, const Matrix& b) {
  Matrix out(a.size(), std::vector<double>(b.size(), 0.0));
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < b.size(); ++j)
      for (std::size_t k = 0; k < a[i].size(); ++k) out[i][j] += a[i][k] * b[j][k];
  return out;
}

inline std::vector<double> column_absmax(const Matrix& m) {
  std::vector<double> result(m.front().size(), 0.0);
  for (const auto& row : m)
    for (std::size_t c = 0; c < row.size(); ++c) result[c] = std::max(result[c], std::abs(row[c]));
  return result;
}

inline std::vector<double> column_absmean(const Matrix& m) {
  std::vector<double> result(m.front().size(), 0.0);
  for (const auto& row : m)
    for (std::size_t c = 0; c < row.size(); ++c) result[c] += std::abs(row[c]) / m.size();
  return result;
}

// Every element times s[column] (or divided when `divide`).
inline Matrix scale_columns(Matrix m, const std::vector<double>& s, bool divide = false) {
  for (auto& row : m)
    for (std::size_t c = 0; c < row.size(); ++c) row[c] = divide ? row[c] / s[c] : row[c] * s[c];
  return m;
}

inline double mean_square_diff(const Matrix& a, const Matrix& b) {
  double sum = 0.0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < a[i].size(); ++j, ++n) sum += (a[i][j] - b[i][j]) * (a[i][j] - b[i][j]);
  return sum / n;
}

inline double mean_square(const Matrix& a) {
  double sum = 0.0;
  std::size_t n = 0;
  for (const auto& row : a) {
    for (double v : row) sum += v * v;
    n += row.size();
  }
  return sum / n;
}

// The reference's quant_int8sym: each row over max|row| / 127, clamped to ±127.
inline Matrix int8_symmetric_rows(Matrix m) {
  for (auto& row : m) {
    double peak = 0.0;
    for (double v : row) peak = std::max(peak, std::abs(v));
    const double interval = peak / 127.0;
    for (double& v : row) v = std::clamp(rne(v / interval), -127.0, 127.0) * interval;
  }
  return m;
}

// Min/max quantization of one row at `bits` (the reference's formula: range includes 0; eps = float32's).
inline Matrix minmax_rows(Matrix m, int bits, bool symmetric) {
  const double qmin = -std::pow(2.0, bits - 1), qmax = std::pow(2.0, bits - 1) - 1;
  const double eps = 1.1920928955078125e-07;
  for (auto& row : m) {
    double mn = 0.0, mx = 0.0;
    for (double v : row) mn = std::min(mn, v), mx = std::max(mx, v);
    const double scale =
        symmetric ? std::max(std::max(-mn, mx) / qmax, eps) : std::max((mx - mn) / (qmax - qmin), eps);
    const double offset = symmetric ? 0.0 : rne(-mn / scale) + qmin;
    for (double& v : row) v = (std::clamp(rne(v / scale + offset), qmin, qmax) - offset) * scale;
  }
  return m;
}

}  // namespace modelslim::test::f64
