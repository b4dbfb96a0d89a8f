// A DeepSeek MoE layer loaded without its routed experts (SDK expert_streaming.hpp): MLA attention, norms,
// router and shared experts stay resident (a DeepseekBlock with no routed experts); the routed experts are
// read in groups, each adding its share of the calibration forward, and freed before the next group. The
// arithmetic is DeepseekBlock::forward's (the same pieces in the same order), so outputs match.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deepseek_block.hpp"
#include "modelslim/expert_streaming.hpp"

namespace modelslim::deepseek {

// Reads routed expert `expert`'s gate, up and down projections.
using ExpertLoader = std::function<std::vector<Linear>(std::int64_t expert)>;

class DeepseekExpertGroup final : public Block {
 public:
  DeepseekExpertGroup(std::string block, std::int64_t first, std::vector<Linear> linears);
  const std::string& name() const override { return block_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override { return {}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;
  void add_to(const Routing& routing, const at::Tensor& flat, at::Tensor& output) const;

 private:
  std::string block_;
  std::int64_t first_;
  std::vector<Linear> linears_;
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
  struct State {
    at::Tensor residual;  // the input plus attention, [1, seq, hidden]
    at::Tensor flat;      // the MLP's input, [tokens, hidden]
    Routing routing;
    at::Tensor shared;  // the shared experts' output (undefined without them)
    at::Tensor routed;  // the routed experts' sum so far
  };
  State& state(std::size_t pass, std::size_t sample);

  std::unique_ptr<DeepseekBlock> resident_;
  std::int64_t experts_;
  ExpertLoader load_;
  std::map<std::pair<std::size_t, std::size_t>, State> states_;
};

}  // namespace modelslim::deepseek
