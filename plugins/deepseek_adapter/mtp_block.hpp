// A multi-token-prediction layer (DeepSeek-V3's num_nextn_predict_layers, stored as model.layers.<N> after
// the N decoder layers). It is not part of the next-token forward, so it is carried to the output unchanged:
// a block with no linears (nothing quantizes it) whose tensors are all "other parameters" (saved in float),
// and whose forward passes the hidden state through.
#pragma once

#include <string>
#include <vector>

#include "modelslim/block.hpp"

namespace modelslim::deepseek {

class MtpBlock final : public Block {
 public:
  MtpBlock(std::string name, std::vector<NamedTensor> tensors)
      : name_(std::move(name)), tensors_(std::move(tensors)) {}

  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override { return {}; }
  std::vector<NamedTensor> other_parameters() const override { return tensors_; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext&) override { return hidden; }

 private:
  std::string name_;
  std::vector<NamedTensor> tensors_;
};

}  // namespace modelslim::deepseek
