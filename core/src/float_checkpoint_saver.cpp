#include "modelslim/core/float_checkpoint_saver.hpp"

#include "modelslim/error.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/model_files.hpp"

namespace modelslim::core {

namespace {
constexpr std::uint64_t kShardBytes = std::uint64_t{4} << 30;
}

FloatCheckpointSaver::FloatCheckpointSaver(std::string stage) : stage_(std::move(stage)) {}

void FloatCheckpointSaver::begin(const SaveContext& context) {
  output_dir_ = context.output_dir;
  model_dir_ = context.model_dir;
  model_ = &context.model;
  dtype_ = context.model.checkpoint_dtype();
  writer_ = std::make_unique<ShardedWriter>(output_dir_, "model", kShardBytes);
}

void FloatCheckpointSaver::save_block(Block& block) {
  for (const Linear* linear : block.linears()) {
    if (linear->quantized()) {
      throw Error(
          ErrorCode::kSchemaValidate,
          stage_ + ": " + linear->name() + " was quantized in a prior stage, whose result is a float model",
          "move linear_quant to spec.process");
    }
    writer_->add(linear->name() + ".weight", linear->weight().to(dtype_).contiguous());
    if (linear->bias()) writer_->add(linear->name() + ".bias", linear->bias()->to(dtype_).contiguous());
  }
  for (const NamedTensor& parameter : block.other_parameters()) {
    writer_->add(parameter.name, parameter.tensor.to(dtype_).contiguous());
  }
}

void FloatCheckpointSaver::finish(const std::vector<NamedTensor>& non_block_parameters) {
  for (const NamedTensor& parameter : non_block_parameters) {
    writer_->add(parameter.name, parameter.tensor.to(dtype_).contiguous());
  }
  writer_->finish();
  writer_.reset();
  nlohmann::json config = model_->hf_config();
  config.erase("quantization_config");  // a float or ascendv1 checkpoint carries none
  copy_model_files(model_dir_, output_dir_, config);
}

}  // namespace modelslim::core
