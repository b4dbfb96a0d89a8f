#include "modelslim/expert_streaming.hpp"

#include "modelslim/error.hpp"

namespace modelslim {

// Out of line so the type information lives in the SDK library once (dynamic_cast across plugins).
ExpertStreamingModel::~ExpertStreamingModel() = default;
ExpertGroupedBlock::~ExpertGroupedBlock() = default;
BlockPartsProcessor::~BlockPartsProcessor() = default;
BlockPartsSaver::~BlockPartsSaver() = default;

ExpertGroupedBlock* expert_grouped_block(Block& block) {
  return dynamic_cast<ExpertGroupedBlock*>(&block);
}

BlockPart::BlockPart(std::string name, std::vector<Linear*> linears,
                     std::vector<NamedTensor> other_parameters)
    : name_(std::move(name)), linears_(std::move(linears)), other_parameters_(std::move(other_parameters)) {}

BlockPart::~BlockPart() = default;

at::Tensor BlockPart::forward(const at::Tensor& /*hidden*/, const ForwardContext& /*context*/) {
  throw Error(ErrorCode::kUnexpected, "block " + name_ + ": a part of a block saved in parts has no forward");
}

}  // namespace modelslim
