// Mixture-of-experts blocks whose routed experts are loaded, calibrated, quantized, saved and released in
// groups (since SDK 4.3), so one block never needs all its experts in float32 at once. Four optional
// interfaces, each found by dynamic_cast (the existing interfaces are unchanged):
// - ExpertStreamingModel (adapters): loads a block without its routed experts;
// - ExpertGroupedBlock (that block): materialises a group of experts and runs the calibration forward in
//   pieces (resident part once per sample, then each group adds its experts' share);
// - BlockPartsProcessor (processors): may be handed parts of a block (the resident part, one group);
// - BlockPartsSaver (savers): takes a block in parts, in the whole block's order.
// The runner streams a block only when the adapter, every processor and every saver can; the result is
// byte-identical to the whole block's (docs/architecture.md, "Mixture-of-experts blocks in groups").
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

class MODELSLIM_SDK_API ExpertStreamingModel {
 public:
  virtual ~ExpertStreamingModel();
  // Float32 bytes of block `index`'s routed experts (weights and biases); 0 when it has none (a dense
  // block, loaded whole with load_block). Known from config.json, nothing is read.
  virtual std::uint64_t routed_expert_bytes(std::size_t index) const = 0;
  // Block `index` with everything but its routed experts (attention, norms, router, shared experts) in
  // float32. The block also derives from ExpertGroupedBlock; its linears() are the resident ones.
  virtual std::unique_ptr<Block> load_block_without_experts(std::size_t index) = 0;
};

class MODELSLIM_SDK_API ExpertGroupedBlock {
 public:
  virtual ~ExpertGroupedBlock();
  virtual std::int64_t num_routed_experts() const = 0;
  // Reads routed experts [first, first + count) in float32: a Block whose linears() are theirs in the whole
  // block's order (each expert's gate, up, down), that is also an ExpertRouting for them and names its
  // fused gate/up modules. Destroying it frees them.
  virtual std::unique_ptr<Block> load_experts(std::int64_t first, std::int64_t count) = 0;
  // What savers get around the groups, so a block saved in parts writes the whole block's sequence: the
  // resident linears that come before the routed experts in the whole block's linears(), and the resident
  // rest with other_parameters(). Views of this block's tensors.
  virtual std::unique_ptr<Block> part_before_experts() = 0;
  virtual std::unique_ptr<Block> part_after_experts() = 0;

  // One calibration forward of sample `sample`, in pieces; `pass` tells apart forwards whose state is held
  // at the same time (the runner: one per processor). forward_resident runs the resident linears on the
  // input and keeps what the experts need (their input, the routing); forward_experts adds the share of
  // `group`'s experts (from load_experts, honouring its ExpertRouting settings); finish_forward returns
  // the block's output, exactly what forward() of the whole block gives when every group was added in
  // expert order, and forgets the sample's state.
  virtual void forward_resident(std::size_t pass, std::size_t sample, const BlockInput& input) = 0;
  virtual void forward_experts(std::size_t pass, std::size_t sample, Block& group) = 0;
  virtual at::Tensor finish_forward(std::size_t pass, std::size_t sample) = 0;
  // Forgets every sample's state of `pass` (a pass whose output is not needed).
  virtual void drop_pass(std::size_t pass) = 0;
};

// The block's ExpertGroupedBlock, or nullptr.
MODELSLIM_SDK_API ExpertGroupedBlock* expert_grouped_block(Block& block);

class MODELSLIM_SDK_API BlockPartsProcessor {
 public:
  virtual ~BlockPartsProcessor();
  // True when preprocess and postprocess treat each linear of request.block on its own (observers of its
  // own input, its own tensors; fused modules are never split across parts), process() is the default
  // calibration forward (none when data-free) and nothing reads request.outputs. The runner may then call
  // preprocess → its own calibration forward → postprocess on parts of a block, one after another.
  virtual bool processes_block_parts() const = 0;
};

class MODELSLIM_SDK_API BlockPartsSaver {
 public:
  virtual ~BlockPartsSaver();
  // Between these calls save_block comes once per part of block `block_name` (its linears in the whole
  // block's order across the parts, other_parameters() in the last part); checks that span a whole block
  // (one scheme for every expert of a layer) span the parts.
  virtual void begin_block_parts(const std::string& block_name) = 0;
  virtual void end_block_parts() = 0;
};

// A view of some of a block's linears and other parameters, for savers (forward is not available).
class MODELSLIM_SDK_API BlockPart final : public Block {
 public:
  BlockPart(std::string name, std::vector<Linear*> linears, std::vector<NamedTensor> other_parameters);
  ~BlockPart() override;
  const std::string& name() const override { return name_; }
  std::vector<Linear*> linears() override { return linears_; }
  std::vector<NamedTensor> other_parameters() const override { return other_parameters_; }
  at::Tensor forward(const at::Tensor& hidden, const ForwardContext& context) override;

 private:
  std::string name_;
  std::vector<Linear*> linears_;
  std::vector<NamedTensor> other_parameters_;
};

}  // namespace modelslim
