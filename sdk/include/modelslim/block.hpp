// A block is the unit the layer-wise runner visits: normally one decoder layer. The adapter materialises
// it (weights read lazily from the checkpoint) just before its round and drops it afterwards.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "modelslim/export.hpp"
#include "modelslim/linear.hpp"

namespace modelslim {

// Per-sample state a block forward needs besides the hidden state (positions, rotary tables, mask).
// Adapters derive their own; the runner only carries it from block to block.
class MODELSLIM_SDK_API ForwardContext {
 public:
  virtual ~ForwardContext();  // key function, defined in sdk/src (see export.hpp)
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
  // The block's slot for an additive norm bias (undefined until set; asymmetric smoothing shifts the norm
  // output). nullptr when this norm cannot take a bias.
  at::Tensor* norm_bias = nullptr;
};

enum class LinearPairKind {
  kLinearLinear,  // the source's output feeds the target's input directly
  kOV,            // v_proj → attention → o_proj: per head channel, heads may share a kv head (GQA)
  kUpDown,        // up_proj → (gate ⊙ up) → down_proj: elementwise product with the gate
};

// A linear whose output rows reach another linear's input columns channel by channel, so the channels can
// be scaled down in the source and up in the target without changing the function.
struct LinearPairSubgraph {
  LinearPairKind kind = LinearPairKind::kLinearLinear;
  Linear* source = nullptr;  // output rows (and bias) divided by s
  Linear* target = nullptr;  // input columns multiplied by s
  // kOV only: target input channel (h, d) reads source channel (h / (num_heads / num_kv_heads), d).
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
};

// Where a block reads and writes the residual stream, for rotations of the hidden basis (QuaRot): after the
// norms are fused into their readers (γ → 1, RMSNorm commutes with orthogonal R), readers take W·R and
// writers Rᵀ·W. The value/output pair can also be rotated per head.
struct BlockRotationPoints {
  std::vector<NormLinearSubgraph> norms;  // fused first: W ← W·diag(γ), γ ← 1
  std::vector<Linear*> readers;           // input columns in the residual basis
  std::vector<Linear*> writers;           // output rows in the residual basis
  Linear* value = nullptr;                // output rows grouped by kv head (per-head rotation)
  Linear* attention_output = nullptr;     // input columns grouped by attention head
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
};

class MODELSLIM_SDK_API Block {
 public:
  virtual ~Block();  // key function, defined in sdk/src (see export.hpp)

  virtual const std::string& name() const = 0;  // e.g. "model.layers.3"
  // The block's linear layers, in forward order; names are full module names
  // ("model.layers.3.self_attn.q_proj").
  virtual std::vector<Linear*> linears() = 0;
  // Every parameter that is not part of a linear (norm weights, ...), full names, stored dtype.
  virtual std::vector<NamedTensor> other_parameters() const = 0;
  virtual at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) = 0;

  // Subgraphs for outlier suppression; adapters that do not describe any return none (since ABI 2.0).
  virtual std::vector<NormLinearSubgraph> norm_linear_subgraphs() { return {}; }
  // Linear → linear subgraphs (ov, up-down, linear-linear), since ABI 3.0.
  virtual std::vector<LinearPairSubgraph> linear_pair_subgraphs() { return {}; }
  // Residual-stream rotation points; empty when the block cannot be rotated (since ABI 3.0).
  virtual std::optional<BlockRotationPoints> rotation_points() { return std::nullopt; }

  Linear* find_linear(const std::string& full_name);
};

}  // namespace modelslim
