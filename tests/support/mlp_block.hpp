// A gated MLP block with a norm in front, y = down(silu(gate(γ ⊙ x)) ⊙ up(γ ⊙ x)), describing the
// norm-linear (γ → gate, up) and up-down (up → down) subgraphs, for testing smoothing processors without a
// model adapter. Planted outliers: channel 1 of x (the inputs the test feeds) and, through γ, the up rows.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "modelslim/block.hpp"

namespace modelslim::test {

class MlpContext final : public ForwardContext {};

class MlpBlock final : public Block {
 public:
  MlpBlock(std::int64_t hidden, std::int64_t intermediate, std::uint64_t seed)
      : gamma_(random({hidden}, seed).abs() + 0.5),
        gate_("blk.mlp.gate_proj", random({intermediate, hidden}, seed + 1) * 0.3),
        up_("blk.mlp.up_proj", random({intermediate, hidden}, seed + 2) * 0.3),
        down_("blk.mlp.down_proj", random({hidden, intermediate}, seed + 3) * 0.3) {}

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override { return {&gate_, &up_, &down_}; }
  std::vector<NamedTensor> other_parameters() const override { return {{kNorm, gamma_}}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext&) override {
    const at::Tensor normed = hidden * gamma_;
    return down_.forward(at::silu(gate_.forward(normed)) * up_.forward(normed));
  }
  std::vector<NormLinearSubgraph> norm_linear_subgraphs() override {
    return {{kNorm, gamma_, {&gate_, &up_}, nullptr}};
  }
  std::vector<LinearPairSubgraph> linear_pair_subgraphs() override {
    return {{LinearPairKind::kUpDown, &up_, &down_}};
  }

  at::Tensor& gamma() { return gamma_; }
  Linear& gate() { return gate_; }
  Linear& up() { return up_; }
  Linear& down() { return down_; }

  // Calibration inputs [1, tokens, hidden] with channel 1 `outlier` times larger.
  static std::vector<BlockInput> inputs(std::int64_t hidden, std::int64_t tokens, int count, double outlier,
                                        std::uint64_t seed) {
    std::vector<BlockInput> result;
    const auto context = std::make_shared<MlpContext>();
    for (int i = 0; i < count; ++i) {
      at::Tensor x = random({1, tokens, hidden}, seed + 10 + i);
      x.select(2, 1).mul_(outlier);
      result.push_back({x, context});
    }
    return result;
  }

  static inline const std::string kNorm = "blk.post_attention_layernorm.weight";

 private:
  static at::Tensor random(at::IntArrayRef shape, std::uint64_t seed) {
    at::manual_seed(seed);
    return at::randn(shape);
  }
  std::string name_ = "blk";
  at::Tensor gamma_;
  Linear gate_;
  Linear up_;
  Linear down_;
};

}  // namespace modelslim::test
