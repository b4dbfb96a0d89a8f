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

// A norm feeding linears (input_layernorm → q/k/v, post_attention_layernorm → gate/up): outlier suppression
// rescales the norm weight's channels and the linears' input columns inversely, keeping the function.
struct NormLinearSubgraph {
  std::string norm;              // full name of the norm weight, e.g. "model.layers.3.input_layernorm.weight"
  at::Tensor norm_weight;        // the block's own tensor (in-place updates change the block)
  std::vector<Linear*> linears;  // the linears that read the norm's output
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

  // Subgraphs for outlier suppression; adapters that do not describe any return none (since ABI 2.0).
  virtual std::vector<NormLinearSubgraph> norm_linear_subgraphs() { return {}; }

  Linear* find_linear(const std::string& full_name);
};

}  // namespace modelslim
