// A two-linear block (y = down(relu(up(x)))) for testing processors without a model adapter.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "modelslim/block.hpp"

namespace modelslim::test {

class ToyContext final : public ForwardContext {};

class ToyBlock final : public Block {
 public:
  ToyBlock(std::string name, std::int64_t width, std::int64_t hidden, std::uint64_t seed)
      : name_(std::move(name)),
        up_(name_ + ".mlp.up_proj", make_weight(hidden, width, seed), make_bias(hidden, seed + 1)),
        down_(name_ + ".mlp.down_proj", make_weight(width, hidden, seed + 2)) {}

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override { return {&up_, &down_}; }
  std::vector<NamedTensor> other_parameters() const override { return {}; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext&) override {
    return down_.forward(at::relu(up_.forward(hidden)));
  }
  Linear& up() { return up_; }
  Linear& down() { return down_; }

 private:
  static at::Tensor make_weight(std::int64_t out, std::int64_t in, std::uint64_t seed) {
    at::manual_seed(seed);
    return at::randn({out, in}) * 0.1;
  }
  static at::Tensor make_bias(std::int64_t out, std::uint64_t seed) {
    at::manual_seed(seed);
    return at::randn({out}) * 0.05;
  }
  std::string name_;
  Linear up_;
  Linear down_;
};

}  // namespace modelslim::test
