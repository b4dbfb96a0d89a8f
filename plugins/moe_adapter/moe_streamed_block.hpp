// A sparse MoE decoder layer loaded without its routed experts (SDK expert_streaming.hpp): the attention,
// norms, router and shared expert stay resident; the routed experts are read in groups (MoeExpertGroup),
// each adding its share to the calibration forward, and freed before the next group. The arithmetic is
// MoeBlock's (the same route / add_expert / shared_expert calls in the same order), so outputs match.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/expert_forward_states.hpp"
#include "modelslim/expert_routing.hpp"
#include "modelslim/expert_streaming.hpp"
#include "modelslim/fused_module_source.hpp"
#include "moe_attention.hpp"
#include "moe_block.hpp"
#include "moe_config.hpp"
#include "moe_mlp.hpp"

namespace modelslim::moe {

using LinearLoader = std::function<Linear(const LinearSpec& spec)>;

// Routed experts [first, first + count) of one block: their gate, up, down in order.
class MoeExpertGroup final : public Block, public ExpertRouting, public FusedModuleSource {
 public:
  MoeExpertGroup(std::string block, std::int64_t first, std::vector<std::string> experts,
                 std::vector<Linear> linears);
  const std::string& name() const override { return block_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override { return {}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;
  std::vector<FusedModule> fused_modules() const override;

  std::vector<RoutedExpert> routed_experts() override;
  void set_calibrate_all_experts(bool on) override { all_experts_ = on; }
  std::vector<std::int64_t> routed_token_counts() const override { return tokens_; }

  // Adds this group's share of one forward (see MoeStreamedBlock).
  void add_to(const Routing& routing, at::Tensor& output);

 private:
  std::string block_;
  std::int64_t first_;
  std::vector<std::string> experts_;
  std::vector<Linear> linears_;
  bool all_experts_ = false;
  std::vector<std::int64_t> tokens_;
};

class MoeStreamedBlock final : public Block, public FusedModuleSource, public ExpertGroupedBlock {
 public:
  // `resident`: q, k, v, o, the router, then the shared expert's gate, up, down and its gate (if any);
  // `experts`: every routed expert's gate, up, down specs, read by `load` when a group is loaded.
  MoeStreamedBlock(std::string name, const MoeConfig& config, std::vector<Linear> resident,
                   MoeBlockNorms norms, std::vector<LinearSpec> experts, LinearLoader load);

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override;
  std::vector<NamedTensor> other_parameters() const override;
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;
  std::vector<FusedModule> fused_modules() const override;

  std::int64_t num_routed_experts() const override { return config_.num_experts; }
  std::unique_ptr<Block> load_experts(std::int64_t first, std::int64_t count) override;
  std::unique_ptr<Block> part_before_experts() override;
  std::unique_ptr<Block> part_after_experts() override;
  void forward_resident(std::size_t pass, std::size_t sample, const BlockInput& input) override;
  void forward_experts(std::size_t pass, std::size_t sample, Block& group) override;
  at::Tensor finish_forward(std::size_t pass, std::size_t sample) override;
  void drop_pass(std::size_t pass) override;

 private:
  bool has_shared() const { return resident_.size() > 5; }

  std::string name_;
  const MoeConfig& config_;
  std::vector<Linear> resident_;
  MoeBlockNorms norms_;
  std::vector<LinearSpec> experts_;
  LinearLoader load_;
  ExpertForwardStates<Routing> states_;  // forwards between forward_resident and finish_forward
};

}  // namespace modelslim::moe
