// The non-block parameters of a Hugging Face decoder-only model (since SDK 4.5): the token embedding, the
// final norm and the lm_head (absent from the checkpoint when tie_word_embeddings). Every adapter answers
// ModelAdapter::non_block_parameters() and NonBlockParameterSpecs the same way, and loads, unties and
// describes its head the same way (since 4.6); these helpers are that answer, so the saved tail (and the
// savers' layout guess from it) cannot drift between model families.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/export.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/streaming_shard_writer.hpp"

namespace modelslim {

class SafetensorsCheckpoint;

inline constexpr const char* kEmbedTokensWeight = "model.embed_tokens.weight";
inline constexpr const char* kFinalNormWeight = "model.norm.weight";
inline constexpr const char* kLmHeadWeight = "lm_head.weight";

// What an adapter holds of its non-block parameters.
struct NonBlockHead {
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  bool tie_word_embeddings = false;  // config.json's: the checkpoint has no lm_head tensor
  at::Tensor embedding;              // as loaded (stored dtype), or the processed one once `modified`
  // A processor changed the head (a rotation): final_norm and lm_head are the adapter's processed tensors,
  // lm_head untied from the embedding. Until then they are read from the checkpoint.
  bool modified = false;
  at::Tensor final_norm;
  at::Tensor lm_head;
};

// How an adapter reads a checkpoint tensor as stored, checked against the shape config.json implies (with
// its own reader: locking, prefetching), and that tensor's spec from the header alone.
using StoredTensorLoader =
    std::function<at::Tensor(const std::string& name, const std::vector<std::int64_t>& shape)>;
using StoredSpecReader =
    std::function<TensorSpec(const std::string& name, const std::vector<std::int64_t>& shape)>;

// Readers over `checkpoint` (kept by reference: it must outlive them). A missing tensor, or a stored shape
// other than config.json's, throws Error(kInvalidModel) naming the tensor and `model_dir` (the header is
// checked before any data is read), with a tip naming `model_type`.
MODELSLIM_SDK_API StoredTensorLoader checkpoint_tensor_loader(const SafetensorsCheckpoint& checkpoint,
                                                              const std::filesystem::path& model_dir,
                                                              const std::string& model_type);
MODELSLIM_SDK_API StoredSpecReader checkpoint_spec_reader(const SafetensorsCheckpoint& checkpoint,
                                                          const std::filesystem::path& model_dir,
                                                          const std::string& model_type);

// Throws Error(kInvalidModel) unless `checkpoint` has `name` (the message names it and `model_dir`).
MODELSLIM_SDK_API void require_checkpoint_tensor(const SafetensorsCheckpoint& checkpoint,
                                                 const std::string& name,
                                                 const std::filesystem::path& model_dir,
                                                 const std::string& model_type);
// Throws Error(kInvalidModel) unless `actual` equals `expected`, the shape config.json implies.
MODELSLIM_SDK_API void check_tensor_shape(const std::string& name, at::IntArrayRef actual,
                                          at::IntArrayRef expected, const std::filesystem::path& model_dir);

// Since SDK 4.6, the rest of what every adapter did alike with its head:
// Reads final_norm and lm_head once (later calls do nothing), as float32: `load` may return any floating
// dtype (a float32 reader avoids a stored-dtype copy). A tied lm_head is the embedding widened.
MODELSLIM_SDK_API void load_non_block_head(NonBlockHead& head, const StoredTensorLoader& load);
// ModelAdapter::rotation_points(): the head loaded, then (once) the embedding widened to float32 and lm_head
// given storage of its own, `modified` set; a rotation then changes the three held tensors in place.
MODELSLIM_SDK_API ModelRotationPoints non_block_rotation_points(NonBlockHead& head,
                                                                const StoredTensorLoader& load);
// ModelAdapter::hf_config(): config.json as read, without quantization_config (the saver writes its own),
// and with tie_word_embeddings false once the head was modified (lm_head is saved as its own tensor).
MODELSLIM_SDK_API nlohmann::json saved_hf_config(const NonBlockHead& head, nlohmann::json config);

// ModelAdapter::non_block_parameters(): embedding, final norm, lm_head (absent when tied and unmodified);
// the held tensors once `head.modified`, else the held embedding and the others read with `load`.
MODELSLIM_SDK_API std::vector<NamedTensor> non_block_head_parameters(const NonBlockHead& head,
                                                                     const StoredTensorLoader& load);
// NonBlockParameterSpecs: the same names, dtypes and shapes in the same order, without reading tensor data
// (`spec` for the tensors not held).
MODELSLIM_SDK_API std::vector<TensorSpec> non_block_head_specs(const NonBlockHead& head,
                                                               const StoredSpecReader& spec);

}  // namespace modelslim
