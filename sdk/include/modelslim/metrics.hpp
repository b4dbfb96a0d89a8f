// Language-model metrics on logits, shared by evaluators (all computed in float64).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

// Sums over next-token predictions of one sequence: logits [seq, vocab] predict ids[1..seq-1].
struct NextTokenStats {
  double nll_sum = 0.0;      // Σ −log p(ids[t+1] | ids[..t])
  std::int64_t tokens = 0;   // predictions counted
  std::int64_t correct = 0;  // argmax == next id
};
MODELSLIM_SDK_API NextTokenStats next_token_stats(const at::Tensor& logits,
                                                  const std::vector<std::int64_t>& ids);

// Σ log p over the tokens of positions [begin, ids.size()) (a multiple-choice continuation).
MODELSLIM_SDK_API double continuation_log_prob(const at::Tensor& logits, const std::vector<std::int64_t>& ids,
                                               std::size_t begin);

// Fidelity of `quant` to `reference` logits [seq, vocab]: top-1 agreement count and Σ KL(p_ref ‖ p_quant).
struct FidelityStats {
  std::int64_t positions = 0;
  std::int64_t top1_agree = 0;
  double kl_sum = 0.0;
};
MODELSLIM_SDK_API FidelityStats fidelity_stats(const at::Tensor& reference, const at::Tensor& quant);

}  // namespace modelslim
