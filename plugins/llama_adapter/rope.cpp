#include "rope.hpp"

#include <cmath>

namespace modelslim::llama {

at::Tensor rope_inverse_frequencies(const LlamaConfig& config) {
  const std::int64_t dim = config.head_dim;
  const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim);
  at::Tensor inv_freq = 1.0 / at::pow(config.rope_theta, exponents);
  const RopeScaling& scaling = config.rope_scaling;
  if (scaling.type == "linear") return inv_freq / scaling.factor;
  if (scaling.type != "llama3") return inv_freq;
  // Llama 3: long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
  const double low_wavelen = scaling.original_max_position_embeddings / scaling.low_freq_factor;
  const double high_wavelen = scaling.original_max_position_embeddings / scaling.high_freq_factor;
  const at::Tensor wavelen = 2.0 * M_PI / inv_freq;
  const at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / scaling.factor, inv_freq);
  const at::Tensor smooth = (scaling.original_max_position_embeddings / wavelen - scaling.low_freq_factor) /
                            (scaling.high_freq_factor - scaling.low_freq_factor);
  const at::Tensor smoothed = (1.0 - smooth) * scaled / scaling.factor + smooth * scaled;
  const at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

std::pair<at::Tensor, at::Tensor> rope_tables(const LlamaConfig& config, std::int64_t seq) {
  return rope_tables_at(config, 0, seq);
}

std::pair<at::Tensor, at::Tensor> rope_tables_at(const LlamaConfig& config, std::int64_t start,
                                                 std::int64_t count) {
  const at::Tensor positions = at::arange(start, start + count, at::kLong).to(at::kFloat);
  const at::Tensor freqs = at::outer(positions, rope_inverse_frequencies(config));
  const at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos(), emb.sin()};
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const std::int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

}  // namespace modelslim::llama
