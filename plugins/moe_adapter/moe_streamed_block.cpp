#include "moe_streamed_block.hpp"

#include <ATen/ATen.h>

namespace modelslim::moe {
namespace {
enum ResidentIndex : std::size_t {
  kQ,
  kK,
  kV,
  kO,
  kRouter,
  kSharedGate,
  kSharedUp,
  kSharedDown,
  kSharedExpertGate
};

// "model.layers.3.mlp.experts.17.gate_proj" → "model.layers.3.mlp.experts.17.gate_up_proj"
FusedModule gate_up(const std::string& gate, const std::string& up) {
  return {gate.substr(0, gate.rfind('.') + 1) + "gate_up_proj", {gate, up}};
}
}  // namespace

MoeExpertGroup::MoeExpertGroup(std::string block, std::int64_t first, std::vector<std::string> experts,
                               std::vector<Linear> linears)
    : block_(std::move(block)),
      first_(first),
      experts_(std::move(experts)),
      linears_(std::move(linears)),
      tokens_(experts_.size(), 0) {}

std::vector<Linear*> MoeExpertGroup::linears() {
  std::vector<Linear*> result;
  for (Linear& linear : linears_) result.push_back(&linear);
  return result;
}

at::Tensor MoeExpertGroup::forward(const at::Tensor& /*hidden*/, const ForwardContext& /*context*/) {
  refuse_expert_group_forward(block_);
}

std::vector<FusedModule> MoeExpertGroup::fused_modules() const {
  std::vector<FusedModule> modules;
  for (std::size_t g = 0; g + 2 < linears_.size(); g += 3)
    modules.push_back(gate_up(linears_[g].name(), linears_[g + 1].name()));
  return modules;
}

std::vector<RoutedExpert> MoeExpertGroup::routed_experts() {
  std::vector<RoutedExpert> result;
  for (std::size_t i = 0; i < experts_.size(); ++i)
    result.push_back({experts_[i], {&linears_[3 * i], &linears_[3 * i + 1], &linears_[3 * i + 2]}});
  return result;
}

void MoeExpertGroup::add_to(const Routing& routing, at::Tensor& output) {
  for (std::size_t i = 0; i < experts_.size(); ++i) {
    add_expert(linears_[3 * i], linears_[3 * i + 1], linears_[3 * i + 2],
               first_ + static_cast<std::int64_t>(i), routing, all_experts_, output, tokens_[i]);
  }
}

MoeStreamedBlock::MoeStreamedBlock(std::string name, const MoeConfig& config, std::vector<Linear> resident,
                                   MoeBlockNorms norms, std::vector<LinearSpec> experts, LinearLoader load)
    : name_(std::move(name)),
      config_(config),
      resident_(std::move(resident)),
      norms_(std::move(norms)),
      experts_(std::move(experts)),
      load_(std::move(load)),
      states_(name_) {}

std::vector<Linear*> MoeStreamedBlock::linears() {
  std::vector<Linear*> result;
  for (Linear& linear : resident_) result.push_back(&linear);
  return result;
}

std::vector<NamedTensor> MoeStreamedBlock::other_parameters() const {
  return norm_parameters(name_, norms_);
}

at::Tensor MoeStreamedBlock::forward(const at::Tensor& /*hidden*/, const ForwardContext& /*context*/) {
  refuse_forward_without_experts(name_);
}

std::vector<FusedModule> MoeStreamedBlock::fused_modules() const {
  const std::string attention = name_ + ".self_attn.";
  std::vector<FusedModule> modules = {
      {attention + "qkv_proj", {attention + "q_proj", attention + "k_proj", attention + "v_proj"}}};
  if (has_shared()) modules.push_back(gate_up(resident_[kSharedGate].name(), resident_[kSharedUp].name()));
  return modules;
}

std::unique_ptr<Block> MoeStreamedBlock::load_experts(std::int64_t first, std::int64_t count) {
  check_routed_expert_range(name_, first, count, config_.num_experts);
  std::vector<std::string> names;
  std::vector<Linear> linears;
  for (std::int64_t e = first; e < first + count; ++e) {
    names.push_back(expert_name(config_, name_, e));
    for (std::size_t part = 0; part < 3; ++part)
      linears.push_back(load_(experts_.at(3 * static_cast<std::size_t>(e) + part)));
  }
  return std::make_unique<MoeExpertGroup>(name_, first, std::move(names), std::move(linears));
}

std::unique_ptr<Block> MoeStreamedBlock::part_before_experts() {
  return std::make_unique<BlockPart>(name_,
                                     std::vector<Linear*>{&resident_[kQ], &resident_[kK], &resident_[kV],
                                                          &resident_[kO], &resident_[kRouter]},
                                     std::vector<NamedTensor>{});
}

std::unique_ptr<Block> MoeStreamedBlock::part_after_experts() {
  std::vector<Linear*> rest;
  for (std::size_t i = kSharedGate; i < resident_.size(); ++i) rest.push_back(&resident_[i]);
  return std::make_unique<BlockPart>(name_, std::move(rest), other_parameters());
}

// MoeBlock::forward up to the routed experts, then sparse_mlp's routing and shared expert.
void MoeStreamedBlock::forward_resident(std::size_t pass, std::size_t sample, const BlockInput& input) {
  const auto& context = dynamic_cast<const MoeContext&>(*input.context);
  const at::Tensor x = input.hidden.to(at::kFloat);
  const AttentionWeights weights{&resident_[kQ], &resident_[kK], &resident_[kV],
                                 &resident_[kO], norms_.q_norm,  norms_.k_norm};
  ExpertForwardState<Routing> state;
  state.residual =
      x + attention(config_, weights,
                    rms_norm(x, norms_.input_norm, config_.rms_norm_eps, norms_.input_norm_bias), context);
  const at::Tensor n = rms_norm(state.residual, norms_.post_attention_norm, config_.rms_norm_eps,
                                norms_.post_attention_norm_bias);
  state.routing = route(config_, resident_[kRouter], n);
  state.flat = state.routing.flat;
  state.routed = at::zeros_like(state.flat);
  if (has_shared()) {
    state.shared = shared_expert(resident_[kSharedGate], resident_[kSharedUp], resident_[kSharedDown],
                                 resident_[kSharedExpertGate], state.routing.flat);
  }
  states_.start(pass, sample, std::move(state));
}

void MoeStreamedBlock::forward_experts(std::size_t pass, std::size_t sample, Block& group) {
  auto& current = states_.at(pass, sample);
  own_expert_group<MoeExpertGroup>(name_, group).add_to(current.routing, current.routed);
}

at::Tensor MoeStreamedBlock::finish_forward(std::size_t pass, std::size_t sample) {
  return states_.finish(pass, sample);
}

void MoeStreamedBlock::drop_pass(std::size_t pass) {
  states_.drop_pass(pass);
}

}  // namespace modelslim::moe
