// A DeepSeek MoE layer loaded without its routed experts (SDK expert_streaming.hpp): MLA attention, norms,
// router and shared experts stay resident (a DeepseekBlock with no routed experts); the routed experts are
// read in groups, each adding its share of the calibration forward, and freed before the next group. The
// arithmetic is DeepseekBlock::forward's (the same pieces in the same order), so outputs match.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deepseek_block.hpp"
#include "modelslim/expert_forward_states.hpp"
#include "modelslim/expert_streaming.hpp"

namespace modelslim::deepseek {

// Reads routed expert `expert`'s gate, up and down projections.
using ExpertLoader = std::function<std::vector<Linear>(std::int64_t expert)>;

// Routed experts [first, first + count) of one block: their gate, up, down in order; an ExpertRouting for
// them (as DeepseekBlock is for all of them).
class DeepseekExpertGroup final : public Block, public ExpertRouting {
 public:
  DeepseekExpertGroup(std::string block, std::int64_t first, std::vector<Linear> linears);
  const std::string& name() const override { return block_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override { return {}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;

  std::vector<RoutedExpert> routed_experts() override;
  void set_calibrate_all_experts(bool on) override { all_experts_ = on; }
  std::vector<std::int64_t> routed_token_counts() const override { return tokens_; }

  // Adds this group's share of one forward (see DeepseekStreamedBlock).
  void add_to(const Routing& routing, const at::Tensor& flat, at::Tensor& output);

 private:
  std::string block_;
  std::int64_t first_;
  std::vector<Linear> linears_;
  bool all_experts_ = false;
  std::vector<std::int64_t> tokens_;  // per expert of the group
};

class DeepseekStreamedBlock final : public Block, public ExpertGroupedBlock {
 public:
  DeepseekStreamedBlock(std::unique_ptr<DeepseekBlock> resident, std::int64_t experts, ExpertLoader load);

  const std::string& name() const override { return resident_->name(); }
  std::vector<Linear*> linears() override { return resident_->linears(); }
  std::vector<NamedTensor> other_parameters() const override { return resident_->other_parameters(); }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;

  std::int64_t num_routed_experts() const override { return experts_; }
  std::unique_ptr<Block> load_experts(std::int64_t first, std::int64_t count) override;
  std::unique_ptr<Block> part_before_experts() override;
  std::unique_ptr<Block> part_after_experts() override;
  void forward_resident(std::size_t pass, std::size_t sample, const BlockInput& input) override;
  void forward_experts(std::size_t pass, std::size_t sample, Block& group) override;
  at::Tensor finish_forward(std::size_t pass, std::size_t sample) override;
  void drop_pass(std::size_t pass) override;

 private:
  std::unique_ptr<DeepseekBlock> resident_;
  std::int64_t experts_;
  ExpertLoader load_;
  ExpertForwardStates<Routing> states_;  // forwards between forward_resident and finish_forward
};

}  // namespace modelslim::deepseek
