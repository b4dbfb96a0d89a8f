#include "modelslim/core/float_checkpoint_saver.hpp"

#include "modelslim/error.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/model_files.hpp"

namespace modelslim::core {

namespace {
constexpr std::uint64_t kShardBytes = std::uint64_t{4} << 30;

std::vector<TensorSpec> specs_of(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const auto& [key, tensor] : tensors) specs.push_back(tensor_spec(key, tensor));
  return specs;
}
}  // namespace

FloatCheckpointSaver::FloatCheckpointSaver(std::string stage) : stage_(std::move(stage)) {}

void FloatCheckpointSaver::begin(const SaveContext& context) {
  output_dir_ = context.output_dir;
  model_dir_ = context.model_dir;
  model_ = &context.model;
  dtype_ = context.model.checkpoint_dtype();
  writer_ = std::make_unique<StreamingShardWriter>(output_dir_, "model", kShardBytes);
  tail_specs_ = specs_of(tail_tensors(context.model.non_block_parameters()));
}

void FloatCheckpointSaver::save_block(Block& block) {
  // Sources, converted one at a time while writing: a whole block in the checkpoint dtype is never held.
  std::vector<std::pair<std::string, at::Tensor>> sources;
  for (const Linear* linear : block.linears()) {
    if (linear->quantized()) {
      throw Error(
          ErrorCode::kSchemaValidate,
          stage_ + ": " + linear->name() + " was quantized in a prior stage, whose result is a float model",
          "move linear_quant to spec.process");
    }
    sources.emplace_back(linear->name() + ".weight", linear->weight());
    if (linear->bias()) sources.emplace_back(linear->name() + ".bias", *linear->bias());
  }
  for (const NamedTensor& parameter : block.other_parameters())
    sources.push_back({parameter.name, parameter.tensor});
  std::vector<TensorSpec> specs;
  for (const auto& [key, tensor] : sources) specs.push_back({key, dtype_, tensor.sizes().vec()});
  writer_->expect(guess_rest_of_model(*model_, block.name(), std::move(specs), tail_specs_));
  for (const auto& [key, tensor] : sources) writer_->enqueue(key, tensor.to(dtype_).contiguous());
}

std::vector<std::pair<std::string, at::Tensor>> FloatCheckpointSaver::tail_tensors(
    const std::vector<NamedTensor>& non_block_parameters) const {
  std::vector<std::pair<std::string, at::Tensor>> tail;
  for (const NamedTensor& parameter : non_block_parameters) {
    tail.emplace_back(parameter.name, parameter.tensor.to(dtype_).contiguous());
  }
  return tail;
}

void FloatCheckpointSaver::finish(const std::vector<NamedTensor>& non_block_parameters) {
  const auto tail = tail_tensors(non_block_parameters);
  writer_->expect(specs_of(tail));
  for (const auto& [key, tensor] : tail) writer_->enqueue(key, tensor);
  writer_->finish();
  writer_.reset();
  nlohmann::json config = model_->hf_config();
  config.erase("quantization_config");  // a float or ascendv1 checkpoint carries none
  copy_model_files(model_dir_, output_dir_, config);
}

}  // namespace modelslim::core
