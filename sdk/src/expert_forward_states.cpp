#include "modelslim/expert_forward_states.hpp"

#include <ATen/ATen.h>

#include "modelslim/error.hpp"

namespace modelslim {

at::Tensor expert_block_output(const at::Tensor& residual, const at::Tensor& routed,
                               const at::Tensor& shared) {
  at::Tensor output = routed;
  if (shared.defined()) output = output + shared;
  return residual + output.view(residual.sizes());
}

void check_routed_expert_range(const std::string& block, std::int64_t first, std::int64_t count,
                               std::int64_t experts) {
  if (first >= 0 && count > 0 && first + count <= experts) return;
  throw Error(ErrorCode::kUnexpected, "block " + block + ": no routed experts [" + std::to_string(first) +
                                          ", " + std::to_string(first + count) + ") among " +
                                          std::to_string(experts));
}

void refuse_forward_without_experts(const std::string& block) {
  throw Error(ErrorCode::kUnexpected, "block " + block + " was loaded without its routed experts",
              "run it through forward_resident / forward_experts / finish_forward");
}

void refuse_expert_group_forward(const std::string& block) {
  throw Error(ErrorCode::kUnexpected,
              "block " + block + ": a group of routed experts has no forward of its own",
              "run it through its block's forward_experts");
}

void refuse_missing_expert_forward(const std::string& block, std::size_t pass, std::size_t sample) {
  throw Error(ErrorCode::kUnexpected, "block " + block + ": no forward_resident for pass " +
                                          std::to_string(pass) + ", sample " + std::to_string(sample));
}

void refuse_foreign_expert_group(const std::string& block) {
  throw Error(ErrorCode::kUnexpected,
              "block " + block + ": forward_experts needs a group from its own load_experts");
}

}  // namespace modelslim
