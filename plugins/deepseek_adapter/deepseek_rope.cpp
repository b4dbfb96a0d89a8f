#include "deepseek_rope.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace modelslim::deepseek {
namespace {

// The channel index (of dim) at which a frequency turns `rotations` times over the original context.
double correction_dim(double rotations, double dim, double base, double max_positions) {
  return dim * std::log(max_positions / (rotations * 2 * M_PI)) / (2 * std::log(base));
}

// YaRN: low-frequency pairs interpolated (divided by factor), high-frequency ones kept, a linear ramp
// between.
at::Tensor yarn_frequencies(const at::Tensor& extrapolated, const YarnScaling& yarn, double dim,
                            double base) {
  double low = std::floor(correction_dim(yarn.beta_fast, dim, base, yarn.original_max_position_embeddings));
  double high = std::ceil(correction_dim(yarn.beta_slow, dim, base, yarn.original_max_position_embeddings));
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1);
  if (low == high) high += 0.001;  // as transformers: avoids dividing by zero
  const at::Tensor ramp = ((at::arange(extrapolated.size(0), at::kFloat) - low) / (high - low)).clamp(0, 1);
  const at::Tensor keep = 1.0 - ramp;  // 1: extrapolate (keep), 0: interpolate
  return extrapolated / yarn.factor * (1.0 - keep) + extrapolated * keep;
}

}  // namespace

at::Tensor rope_inverse_frequencies(const DeepseekConfig& config) {
  const std::int64_t dim = config.qk_rope_head_dim;
  const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  const at::Tensor inv_freq = 1.0 / at::pow(config.rope_theta, exponents);
  if (!config.yarn) return inv_freq;
  return yarn_frequencies(inv_freq, *config.yarn, static_cast<double>(dim), config.rope_theta);
}

std::pair<at::Tensor, at::Tensor> rope_tables(const DeepseekConfig& config, std::int64_t start,
                                              std::int64_t count) {
  const at::Tensor positions = at::arange(start, start + count, at::kLong).to(at::kFloat);
  const at::Tensor angles = at::outer(positions, rope_inverse_frequencies(config));
  const double factor = rope_attention_factor(config);
  return {angles.cos() * factor, angles.sin() * factor};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool interleave) {
  const std::int64_t half = x.size(-1) / 2;
  at::Tensor first;   // the first element of each rotated pair
  at::Tensor second;  // its partner
  if (interleave) {
    std::vector<std::int64_t> shape = x.sizes().vec();
    shape.back() = half;
    shape.push_back(2);
    const at::Tensor pairs = x.reshape(shape);
    first = pairs.select(-1, 0);
    second = pairs.select(-1, 1);
  } else {
    first = x.narrow(-1, 0, half);
    second = x.narrow(-1, half, half);
  }
  const at::Tensor rotated_first = first * cos - second * sin;
  const at::Tensor rotated_second = first * sin + second * cos;
  if (interleave) return at::stack({rotated_first, rotated_second}, -1).flatten(-2);
  return at::cat({rotated_first, rotated_second}, -1);
}

}  // namespace modelslim::deepseek
