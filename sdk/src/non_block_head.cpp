#include "modelslim/non_block_head.hpp"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/safetensors.hpp"
#include "shape_text.hpp"

namespace modelslim {
namespace {

std::vector<std::int64_t> norm_shape(const NonBlockHead& head) {
  return {head.hidden_size};
}
std::vector<std::int64_t> lm_head_shape(const NonBlockHead& head) {
  return {head.vocab_size, head.hidden_size};
}

}  // namespace

void require_checkpoint_tensor(const SafetensorsCheckpoint& checkpoint, const std::string& name,
                               const std::filesystem::path& model_dir, const std::string& model_type) {
  if (checkpoint.contains(name)) return;
  throw Error(ErrorCode::kInvalidModel, model_dir.string() + ": the checkpoint has no tensor '" + name + "'",
              "is this a " + model_type + " checkpoint? check config.json and the safetensors files");
}

void check_tensor_shape(const std::string& name, at::IntArrayRef actual, at::IntArrayRef expected,
                        const std::filesystem::path& model_dir) {
  if (actual == expected) return;
  throw Error(ErrorCode::kInvalidModel, model_dir.string() + ": tensor '" + name + "' has shape " +
                                            shape_text(actual) + " but config.json implies " +
                                            shape_text(expected));
}

namespace {

// The header of `name`, checked to exist and to have the shape config.json implies.
TensorInfo checked_info(const SafetensorsCheckpoint& checkpoint, const std::string& name,
                        const std::vector<std::int64_t>& shape, const std::filesystem::path& model_dir,
                        const std::string& model_type) {
  require_checkpoint_tensor(checkpoint, name, model_dir, model_type);
  const TensorInfo& info = checkpoint.info(name);
  check_tensor_shape(name, info.shape, shape, model_dir);
  return info;
}

}  // namespace

StoredTensorLoader checkpoint_tensor_loader(const SafetensorsCheckpoint& checkpoint,
                                            const std::filesystem::path& model_dir,
                                            const std::string& model_type) {
  return
      [&checkpoint, model_dir, model_type](const std::string& name, const std::vector<std::int64_t>& shape) {
        checked_info(checkpoint, name, shape, model_dir, model_type);
        return checkpoint.load(name);
      };
}

StoredSpecReader checkpoint_spec_reader(const SafetensorsCheckpoint& checkpoint,
                                        const std::filesystem::path& model_dir,
                                        const std::string& model_type) {
  return
      [&checkpoint, model_dir, model_type](const std::string& name, const std::vector<std::int64_t>& shape) {
        const TensorInfo info = checked_info(checkpoint, name, shape, model_dir, model_type);
        return TensorSpec{name, scalar_type_from_safetensors(info.dtype), shape};
      };
}

std::vector<NamedTensor> non_block_head_parameters(const NonBlockHead& head, const StoredTensorLoader& load) {
  if (head.modified) {  // the processed tensors, not the checkpoint's
    return {{kEmbedTokensWeight, head.embedding},
            {kFinalNormWeight, head.final_norm},
            {kLmHeadWeight, head.lm_head}};
  }
  std::vector<NamedTensor> result = {{kEmbedTokensWeight, head.embedding},
                                     {kFinalNormWeight, load(kFinalNormWeight, norm_shape(head))}};
  if (!head.tie_word_embeddings) result.push_back({kLmHeadWeight, load(kLmHeadWeight, lm_head_shape(head))});
  return result;
}

std::vector<TensorSpec> non_block_head_specs(const NonBlockHead& head, const StoredSpecReader& spec) {
  if (head.modified) {
    return {tensor_spec(kEmbedTokensWeight, head.embedding), tensor_spec(kFinalNormWeight, head.final_norm),
            tensor_spec(kLmHeadWeight, head.lm_head)};
  }
  std::vector<TensorSpec> result = {tensor_spec(kEmbedTokensWeight, head.embedding),
                                    spec(kFinalNormWeight, norm_shape(head))};
  if (!head.tie_word_embeddings) result.push_back(spec(kLmHeadWeight, lm_head_shape(head)));
  return result;
}

void load_non_block_head(NonBlockHead& head, const StoredTensorLoader& load) {
  if (head.final_norm.defined()) return;
  head.final_norm = load(kFinalNormWeight, norm_shape(head)).to(at::kFloat);
  head.lm_head = head.tie_word_embeddings ? head.embedding.to(at::kFloat)
                                          : load(kLmHeadWeight, lm_head_shape(head)).to(at::kFloat);
}

ModelRotationPoints non_block_rotation_points(NonBlockHead& head, const StoredTensorLoader& load) {
  load_non_block_head(head, load);
  if (!head.modified) {
    // Rotations run in float32; a tied lm_head (the widened embedding, or the embedding itself when it was
    // float32 already) stops sharing storage with it.
    head.embedding = head.embedding.to(at::kFloat);
    head.lm_head = head.lm_head.clone();
    head.modified = true;
  }
  return ModelRotationPoints{head.embedding, head.final_norm, head.lm_head};
}

nlohmann::json saved_hf_config(const NonBlockHead& head, nlohmann::json config) {
  config.erase("quantization_config");
  if (head.modified) config["tie_word_embeddings"] = false;
  return config;
}

}  // namespace modelslim
