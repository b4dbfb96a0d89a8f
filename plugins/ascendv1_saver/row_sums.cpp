// Compiled with -O3 (CMakeLists.txt): the plain loop below is then vectorized for the build's target, 4–6×
// faster than ATen's reduction to int64, which converts every element first (0.1 s a Llama-2-7B block on
// the calibration thread before, 0.025 s now; docs/performance.md, "Writes behind the caller").
#include "row_sums.hpp"

#include <ATen/ATen.h>

#include <cstdint>

#include "modelslim/error.hpp"

namespace modelslim::ascendv1 {
namespace {

// |Σ| ≤ 128 · columns: an int32 accumulator is exact below 2^31 / 128 columns.
constexpr std::int64_t kMaxInt32Columns = (std::int64_t{1} << 31) / 128;

}  // namespace

at::Tensor exact_row_sums(const at::Tensor& q) {
  if (q.dim() != 2 || q.scalar_type() != at::kChar) {
    throw Error(ErrorCode::kUnexpected, "exact_row_sums: expected a 2-D int8 tensor");
  }
  const at::Tensor rows_major = q.contiguous();
  const std::int64_t rows = rows_major.size(0);
  const std::int64_t columns = rows_major.size(1);
  if (columns >= kMaxInt32Columns) return rows_major.sum(1, false, at::kLong);
  const auto* data = rows_major.data_ptr<std::int8_t>();
  at::Tensor sums = at::empty({rows}, at::kLong);
  auto* out = sums.data_ptr<std::int64_t>();
  for (std::int64_t row = 0; row < rows; ++row) {
    const std::int8_t* values = data + row * columns;
    std::int32_t sum = 0;
    for (std::int64_t column = 0; column < columns; ++column) sum += values[column];
    out[row] = sum;
  }
  return sums;
}

}  // namespace modelslim::ascendv1
