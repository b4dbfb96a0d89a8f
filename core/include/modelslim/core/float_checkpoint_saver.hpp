// Writes the processed float model as a Hugging Face checkpoint (model*.safetensors with the original names,
// config.json from the adapter, the tokenizer and other non-weight files). The host uses it between `prior`
// stages: the layer-wise runner frees each block after its round, so a stage's changes must reach disk
// before the next stage reads the blocks again.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "modelslim/saver.hpp"
#include "modelslim/streaming_shard_writer.hpp"

namespace modelslim::core {

class FloatCheckpointSaver final : public Saver {
 public:
  // `stage`: how errors name the stage, e.g. "spec.prior.0".
  explicit FloatCheckpointSaver(std::string stage);
  void begin(const SaveContext& context) override;
  void save_block(Block& block) override;
  void finish(const std::vector<NamedTensor>& non_block_parameters) override;

 private:
  std::string stage_;
  std::filesystem::path output_dir_;
  std::filesystem::path model_dir_;
  ModelAdapter* model_ = nullptr;
  at::ScalarType dtype_ = at::kFloat;
  std::vector<std::pair<std::string, at::Tensor>> tail_tensors(
      const std::vector<NamedTensor>& non_block_parameters) const;

  std::unique_ptr<StreamingShardWriter> writer_;
  std::vector<TensorSpec> tail_specs_;  // what finish() will write, guessed in begin()
};

}  // namespace modelslim::core
