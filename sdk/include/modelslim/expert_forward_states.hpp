// What every ExpertGroupedBlock (expert_streaming.hpp) needs besides its own arithmetic (since SDK 4.4): the
// per-sample state a calibration forward keeps from forward_resident to finish_forward, the block's output
// from it, and the refusals with their messages. moe_adapter's and deepseek_adapter's streamed blocks use it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <string>
#include <utility>

#include "modelslim/block.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

// One sample's forward between forward_resident and finish_forward; `Routing` is the adapter's routing
// decision for the experts' input.
template <typename Routing>
struct ExpertForwardState {
  at::Tensor residual;  // the block's input plus attention, [1, seq, hidden]
  at::Tensor flat;      // the routed experts' input, [tokens, hidden]
  Routing routing;
  at::Tensor shared;  // the shared experts' output, [tokens, hidden] (undefined without them)
  at::Tensor routed;  // the routed experts' sum so far, [tokens, hidden]
};

// residual + (routed + shared) viewed as residual: the output of a block whose MLP is the experts' sum.
MODELSLIM_SDK_API at::Tensor expert_block_output(const at::Tensor& residual, const at::Tensor& routed,
                                                 const at::Tensor& shared);

// Throws Error(kUnexpected) unless [first, first + count) is a non-empty range of block `block`'s
// `experts` routed experts (ExpertGroupedBlock::load_experts).
MODELSLIM_SDK_API void check_routed_expert_range(const std::string& block, std::int64_t first,
                                                 std::int64_t count, std::int64_t experts);

// Error(kUnexpected) for forward() of a block loaded without its routed experts, and of a group of them.
[[noreturn]] MODELSLIM_SDK_API void refuse_forward_without_experts(const std::string& block);
[[noreturn]] MODELSLIM_SDK_API void refuse_expert_group_forward(const std::string& block);
// Error(kUnexpected): no forward_resident of (pass, sample), or a group that block `block` did not load.
[[noreturn]] MODELSLIM_SDK_API void refuse_missing_expert_forward(const std::string& block, std::size_t pass,
                                                                  std::size_t sample);
[[noreturn]] MODELSLIM_SDK_API void refuse_foreign_expert_group(const std::string& block);

// `group` as the `Group` type block `block`'s load_experts returns (its name is the block's), or the refusal.
template <typename Group>
Group& own_expert_group(const std::string& block, Block& group) {
  auto* own = dynamic_cast<Group*>(&group);
  if (own == nullptr || own->name() != block) refuse_foreign_expert_group(block);
  return *own;
}

// The forwards in flight of one block, by (pass, sample).
template <typename Routing>
class ExpertForwardStates {
 public:
  using State = ExpertForwardState<Routing>;

  explicit ExpertForwardStates(std::string block) : block_(std::move(block)) {}

  void start(std::size_t pass, std::size_t sample, State state) {
    states_[{pass, sample}] = std::move(state);
  }
  State& at(std::size_t pass, std::size_t sample) {
    const auto found = states_.find({pass, sample});
    if (found == states_.end()) refuse_missing_expert_forward(block_, pass, sample);
    return found->second;
  }
  // The block's output (expert_block_output) for the sample, whose state is then forgotten.
  at::Tensor finish(std::size_t pass, std::size_t sample) {
    const State& state = at(pass, sample);
    at::Tensor output = expert_block_output(state.residual, state.routed, state.shared);
    states_.erase({pass, sample});
    return output;
  }
  void drop_pass(std::size_t pass) {
    for (auto it = states_.begin(); it != states_.end();)
      it = it->first.first == pass ? states_.erase(it) : std::next(it);
  }

 private:
  std::string block_;
  std::map<std::pair<std::size_t, std::size_t>, State> states_;
};

}  // namespace modelslim
