#include "modelslim/metrics.hpp"

#include "modelslim/error.hpp"

#include <ATen/ATen.h>

namespace modelslim {
namespace {
at::Tensor as_2d_double(const at::Tensor& logits) {
  const at::Tensor l = logits.dim() == 3 ? logits.squeeze(0) : logits;
  return l.to(at::kDouble);
}
}  // namespace

NextTokenStats next_token_stats(const at::Tensor& logits, const std::vector<std::int64_t>& ids) {
  NextTokenStats stats;
  if (ids.size() < 2) return stats;
  const at::Tensor log_probs = at::log_softmax(as_2d_double(logits), -1);
  const std::int64_t n = static_cast<std::int64_t>(ids.size()) - 1;
  const at::Tensor targets = at::tensor(std::vector<std::int64_t>(ids.begin() + 1, ids.end()), at::kLong);
  const at::Tensor picked = log_probs.narrow(0, 0, n).gather(1, targets.unsqueeze(1)).squeeze(1);
  stats.nll_sum = -picked.sum().item<double>();
  stats.tokens = n;
  stats.correct = (log_probs.narrow(0, 0, n).argmax(1) == targets).sum().item<std::int64_t>();
  return stats;
}

double continuation_log_prob(const at::Tensor& logits, const std::vector<std::int64_t>& ids,
                             std::size_t begin) {
  if (begin == 0 || begin > ids.size()) {
    throw Error(ErrorCode::kUnexpected, "continuation must start after at least one context token");
  }
  const at::Tensor log_probs = at::log_softmax(as_2d_double(logits), -1);
  double total = 0.0;
  for (std::size_t t = begin; t < ids.size(); ++t) {
    total += log_probs[static_cast<std::int64_t>(t - 1)][ids[t]].item<double>();
  }
  return total;
}

FidelityStats fidelity_stats(const at::Tensor& reference, const at::Tensor& quant) {
  const at::Tensor ref = at::log_softmax(as_2d_double(reference), -1);
  const at::Tensor q = at::log_softmax(as_2d_double(quant), -1);
  FidelityStats stats;
  stats.positions = ref.size(0);
  stats.top1_agree = (ref.argmax(1) == q.argmax(1)).sum().item<std::int64_t>();
  stats.kl_sum = (ref.exp() * (ref - q)).sum().item<double>();
  return stats;
}

}  // namespace modelslim
