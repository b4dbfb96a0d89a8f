// Next-token choice for the text generator: greedy argmax or sampling from the temperature-scaled
// distribution restricted to the top_k most likely tokens and then to the smallest most-likely set whose
// probability reaches top_p (the order Hugging Face and vLLM apply them in). Everything in float64.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <random>

#include "modelslim/core/text_generator.hpp"

namespace modelslim::core {

// log_softmax of one row of logits [vocab], float64.
at::Tensor log_probabilities(const at::Tensor& logits);

// The distribution sampling draws from (float64 [vocab], zeros outside the kept set, sums to 1).
// temperature must be > 0; top_k 0 keeps every token; ties at the top_k boundary keep the lower ids.
at::Tensor sampling_distribution(const at::Tensor& logits, double temperature, std::int64_t top_k,
                                 double top_p);

class TokenSampler {
 public:
  // Seeded from params.seed, or from std::random_device when absent.
  explicit TokenSampler(const SamplingParams& params);
  // logits [vocab]: argmax (ties to the lowest id) at temperature 0, else one draw.
  std::int64_t next(const at::Tensor& logits);

 private:
  double uniform();  // [0, 1), 53 random bits
  SamplingParams params_;
  std::mt19937_64 rng_;
};

}  // namespace modelslim::core
