#include "deepseek_streamed_block.hpp"

#include <ATen/ATen.h>

#include "modelslim/error.hpp"

namespace modelslim::deepseek {

DeepseekExpertGroup::DeepseekExpertGroup(std::string block, std::int64_t first, std::vector<Linear> linears)
    : block_(std::move(block)), first_(first), linears_(std::move(linears)) {}

std::vector<Linear*> DeepseekExpertGroup::linears() {
  std::vector<Linear*> result;
  for (Linear& linear : linears_) result.push_back(&linear);
  return result;
}

at::Tensor DeepseekExpertGroup::forward(const at::Tensor& /*hidden*/, const ForwardContext& /*context*/) {
  throw Error(ErrorCode::kUnexpected,
              "block " + block_ + ": a group of routed experts has no forward of its own",
              "run it through its block's forward_experts");
}

void DeepseekExpertGroup::add_to(const Routing& routing, const at::Tensor& flat, at::Tensor& output) const {
  for (std::size_t i = 0; i + 2 < linears_.size(); i += 3) {
    add_routed_expert(linears_[i], linears_[i + 1], linears_[i + 2],
                      first_ + static_cast<std::int64_t>(i / 3), routing, flat, output);
  }
}

DeepseekStreamedBlock::DeepseekStreamedBlock(std::unique_ptr<DeepseekBlock> resident, std::int64_t experts,
                                             ExpertLoader load)
    : resident_(std::move(resident)), experts_(experts), load_(std::move(load)) {}

at::Tensor DeepseekStreamedBlock::forward(const at::Tensor& /*hidden*/, const ForwardContext& /*context*/) {
  throw Error(ErrorCode::kUnexpected, "block " + name() + " was loaded without its routed experts",
              "run it through forward_resident / forward_experts / finish_forward");
}

std::unique_ptr<Block> DeepseekStreamedBlock::load_experts(std::int64_t first, std::int64_t count) {
  if (first < 0 || count <= 0 || first + count > experts_) {
    throw Error(ErrorCode::kUnexpected, "block " + name() + ": no routed experts [" + std::to_string(first) +
                                            ", " + std::to_string(first + count) + ") among " +
                                            std::to_string(experts_));
  }
  std::vector<Linear> linears;
  for (std::int64_t e = first; e < first + count; ++e) {
    for (Linear& linear : load_(e)) linears.push_back(std::move(linear));
  }
  return std::make_unique<DeepseekExpertGroup>(name(), first, std::move(linears));
}

// The whole block's linears are attention, router, routed experts, shared experts.
std::unique_ptr<Block> DeepseekStreamedBlock::part_before_experts() {
  const std::vector<Linear*> all = resident_->linears();
  const std::size_t end = resident_->layout().router + 1;
  return std::make_unique<BlockPart>(name(), std::vector<Linear*>(all.begin(), all.begin() + end),
                                     std::vector<NamedTensor>{});
}

std::unique_ptr<Block> DeepseekStreamedBlock::part_after_experts() {
  const std::vector<Linear*> all = resident_->linears();
  const std::size_t begin = resident_->layout().router + 1;
  return std::make_unique<BlockPart>(name(), std::vector<Linear*>(all.begin() + begin, all.end()),
                                     other_parameters());
}

DeepseekStreamedBlock::State& DeepseekStreamedBlock::state(std::size_t pass, std::size_t sample) {
  const auto found = states_.find({pass, sample});
  if (found == states_.end()) {
    throw Error(ErrorCode::kUnexpected, "block " + name() + ": no forward_resident for pass " +
                                            std::to_string(pass) + ", sample " + std::to_string(sample));
  }
  return found->second;
}

// DeepseekBlock::forward and moe() up to the routed experts.
void DeepseekStreamedBlock::forward_resident(std::size_t pass, std::size_t sample, const BlockInput& input) {
  State state;
  state.residual = resident_->attention_residual(input.hidden.to(at::kFloat),
                                                 dynamic_cast<const DeepseekContext&>(*input.context));
  const at::Tensor n = resident_->mlp_input(state.residual);
  state.flat = n.reshape({-1, n.size(-1)});
  state.routing = resident_->route(state.flat);
  state.routed = at::zeros_like(state.flat);
  state.shared = resident_->shared_experts(state.flat);
  states_[{pass, sample}] = std::move(state);
}

void DeepseekStreamedBlock::forward_experts(std::size_t pass, std::size_t sample, Block& group) {
  const auto* experts = dynamic_cast<const DeepseekExpertGroup*>(&group);
  if (experts == nullptr || experts->name() != name()) {
    throw Error(ErrorCode::kUnexpected,
                "block " + name() + ": forward_experts needs a group from its own load_experts");
  }
  State& current = state(pass, sample);
  experts->add_to(current.routing, current.flat, current.routed);
}

at::Tensor DeepseekStreamedBlock::finish_forward(std::size_t pass, std::size_t sample) {
  State& current = state(pass, sample);
  at::Tensor output = current.routed;
  if (current.shared.defined()) output = output + current.shared;
  at::Tensor result = current.residual + output.view(current.residual.sizes());
  states_.erase({pass, sample});
  return result;
}

void DeepseekStreamedBlock::drop_pass(std::size_t pass) {
  for (auto it = states_.begin(); it != states_.end();)
    it = it->first.first == pass ? states_.erase(it) : std::next(it);
}

}  // namespace modelslim::deepseek
