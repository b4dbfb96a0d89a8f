#include "deepseek_streamed_block.hpp"

#include <ATen/ATen.h>

namespace modelslim::deepseek {

DeepseekExpertGroup::DeepseekExpertGroup(std::string block, std::int64_t first, std::vector<Linear> linears)
    : block_(std::move(block)),
      first_(first),
      linears_(std::move(linears)),
      tokens_(linears_.size() / 3, 0) {}

std::vector<Linear*> DeepseekExpertGroup::linears() {
  std::vector<Linear*> result;
  for (Linear& linear : linears_) result.push_back(&linear);
  return result;
}

at::Tensor DeepseekExpertGroup::forward(const at::Tensor& /*hidden*/, const ForwardContext& /*context*/) {
  refuse_expert_group_forward(block_);
}

std::vector<RoutedExpert> DeepseekExpertGroup::routed_experts() {
  std::vector<RoutedExpert> experts;
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    experts.push_back({routed_expert_name(block_, first_ + static_cast<std::int64_t>(i)),
                       {&linears_[3 * i], &linears_[3 * i + 1], &linears_[3 * i + 2]}});
  }
  return experts;
}

void DeepseekExpertGroup::add_to(const Routing& routing, const at::Tensor& flat, at::Tensor& output) {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    add_routed_expert(linears_[3 * i], linears_[3 * i + 1], linears_[3 * i + 2],
                      first_ + static_cast<std::int64_t>(i), routing, flat, all_experts_, output, tokens_[i]);
  }
}

DeepseekStreamedBlock::DeepseekStreamedBlock(std::unique_ptr<DeepseekBlock> resident, std::int64_t experts,
                                             ExpertLoader load)
    : resident_(std::move(resident)), experts_(experts), load_(std::move(load)), states_(resident_->name()) {}

at::Tensor DeepseekStreamedBlock::forward(const at::Tensor& /*hidden*/, const ForwardContext& /*context*/) {
  refuse_forward_without_experts(name());
}

std::unique_ptr<Block> DeepseekStreamedBlock::load_experts(std::int64_t first, std::int64_t count) {
  check_routed_expert_range(name(), first, count, experts_);
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

// DeepseekBlock::forward and moe() up to the routed experts.
void DeepseekStreamedBlock::forward_resident(std::size_t pass, std::size_t sample, const BlockInput& input) {
  ExpertForwardState<Routing> state;
  state.residual = resident_->attention_residual(input.hidden.to(at::kFloat),
                                                 dynamic_cast<const DeepseekContext&>(*input.context));
  const at::Tensor n = resident_->mlp_input(state.residual);
  state.flat = n.reshape({-1, n.size(-1)});
  state.routing = resident_->route(state.flat);
  state.routed = at::zeros_like(state.flat);
  state.shared = resident_->shared_experts(state.flat);
  states_.start(pass, sample, std::move(state));
}

void DeepseekStreamedBlock::forward_experts(std::size_t pass, std::size_t sample, Block& group) {
  auto& current = states_.at(pass, sample);
  own_expert_group<DeepseekExpertGroup>(name(), group).add_to(current.routing, current.flat, current.routed);
}

at::Tensor DeepseekStreamedBlock::finish_forward(std::size_t pass, std::size_t sample) {
  return states_.finish(pass, sample);
}

void DeepseekStreamedBlock::drop_pass(std::size_t pass) {
  states_.drop_pass(pass);
}

}  // namespace modelslim::deepseek
