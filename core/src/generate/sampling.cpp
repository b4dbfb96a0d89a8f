#include "modelslim/core/sampling.hpp"

#include <ATen/ATen.h>

namespace modelslim::core {

at::Tensor log_probabilities(const at::Tensor& logits) {
  return at::log_softmax(logits.reshape({-1}).to(at::kDouble), -1);
}

at::Tensor sampling_distribution(const at::Tensor& logits, double temperature, std::int64_t top_k,
                                 double top_p) {
  const at::Tensor scaled = logits.reshape({-1}).to(at::kDouble) / temperature;
  const std::int64_t vocab = scaled.size(0);
  // Stable descending order: equal logits keep ascending ids, so cuts keep the lower ids.
  const at::Tensor order = std::get<1>(scaled.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  at::Tensor sorted_probs = at::softmax(scaled.index_select(0, order), 0);
  if (top_k > 0 && top_k < vocab) sorted_probs.narrow(0, top_k, vocab - top_k).zero_();
  sorted_probs = sorted_probs / sorted_probs.sum();
  if (top_p < 1.0) {
    // Keep a token while the probability before it is still below top_p (the first is always kept).
    const at::Tensor before = sorted_probs.cumsum(0) - sorted_probs;
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0);
    sorted_probs = sorted_probs / sorted_probs.sum();
  }
  return at::zeros({vocab}, at::kDouble).index_copy(0, order, sorted_probs);
}

TokenSampler::TokenSampler(const SamplingParams& params)
    : params_(params), rng_(params.seed ? *params.seed : std::random_device{}()) {}

double TokenSampler::uniform() {
  return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
}

std::int64_t TokenSampler::next(const at::Tensor& logits) {
  if (params_.temperature == 0.0) return logits.reshape({-1}).to(at::kDouble).argmax().item<std::int64_t>();
  const at::Tensor probs =
      sampling_distribution(logits, params_.temperature, params_.top_k, params_.top_p).contiguous();
  const double* p = probs.data_ptr<double>();
  const std::int64_t vocab = probs.size(0);
  const double u = uniform();
  double cumulative = 0.0;
  std::int64_t last_kept = 0;
  for (std::int64_t id = 0; id < vocab; ++id) {
    if (p[id] <= 0.0) continue;
    last_kept = id;
    cumulative += p[id];
    if (cumulative > u) return id;
  }
  return last_kept;  // rounding left the sum a hair below u
}

}  // namespace modelslim::core
