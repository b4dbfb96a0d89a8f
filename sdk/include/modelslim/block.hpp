// A block is the unit the layer-wise runner visits: normally one decoder layer. The adapter materialises
// it (weights read lazily from the checkpoint) just before its round and drops it afterwards.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "modelslim/linear.hpp"

namespace modelslim {

// Per-sample state a block forward needs besides the hidden state (positions, rotary tables, mask).
// Adapters derive their own; the runner only carries it from block to block.
class ForwardContext {
 public:
  virtual ~ForwardContext() = default;
};

// One calibration sample as it enters a block.
struct BlockInput {
  at::Tensor hidden;                              // [1, seq, hidden]
  std::shared_ptr<const ForwardContext> context;  // shared by every block of this sample
};

struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

class Block {
 public:
  virtual ~Block() = default;

  virtual const std::string& name() const = 0;  // e.g. "model.layers.3"
  // The block's linear layers, in forward order; names are full module names
  // ("model.layers.3.self_attn.q_proj").
  virtual std::vector<Linear*> linears() = 0;
  // Every parameter that is not part of a linear (norm weights, ...), full names, stored dtype.
  virtual std::vector<NamedTensor> other_parameters() const = 0;
  virtual at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) = 0;

  Linear* find_linear(const std::string& full_name);
};

}  // namespace modelslim
