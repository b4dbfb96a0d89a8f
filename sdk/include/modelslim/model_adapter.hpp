// Model adapters turn a Hugging Face checkpoint into blocks the runner can visit one at a time.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/block.hpp"
#include "modelslim/export.hpp"

namespace modelslim {

class Tokenizer;

struct ModelLoadRequest {
  std::filesystem::path model_dir;
  nlohmann::json hf_config;  // config.json
  std::string model_type;    // the --model_type the user gave, or config.json's model_type
  at::Device device = at::kCPU;
  bool trust_remote_code = false;
  // Weights the caller replaces before any forward (e.g. an evaluator running saved quantized linears):
  // the adapter need not read them and gives zeros of the expected shape instead (their stored form may be
  // packed). Full tensor names, e.g. "model.layers.0.mlp.up_proj.weight".
  std::set<std::string> replaced_weights;
};

// The parameters outside the blocks that a rotation of the hidden basis touches (QuaRot). The tensors are
// the adapter's own: in-place updates change what embed(), head() and non_block_parameters() use.
struct ModelRotationPoints {
  at::Tensor embedding;   // [vocab, hidden]: E ← E·R
  at::Tensor final_norm;  // [hidden]: fused into lm_head (W ← W·diag(γ)), then γ ← 1
  at::Tensor lm_head;     // [vocab, hidden]: W ← W·R; never shares storage with the embedding
};

class MODELSLIM_SDK_API ModelAdapter {
 public:
  virtual ~ModelAdapter();  // key function, defined in sdk/src (see export.hpp)

  virtual std::string model_type() const = 0;  // e.g. "llama", "qwen3"
  virtual const Tokenizer& tokenizer() const = 0;

  // Token ids → the input of block 0 (embedding lookup) plus the per-sample context.
  virtual BlockInput embed(const at::Tensor& input_ids) = 0;  // input_ids: int64 [1, seq]
  virtual std::size_t num_blocks() const = 0;
  virtual std::string block_name(std::size_t index) const = 0;
  // Materialises block `index` with its weights in float32 on the device. Weights are read now, not before.
  virtual std::unique_ptr<Block> load_block(std::size_t index) = 0;
  // Final norm and lm_head: hidden [1, seq, hidden] → logits [1, seq, vocab].
  virtual at::Tensor head(const at::Tensor& hidden) = 0;
  // Parameters outside the blocks (embedding, final norm, lm_head), full names, stored dtype.
  virtual std::vector<NamedTensor> non_block_parameters() = 0;
  // dtype of the checkpoint's floating-point weights (savers keep FLOAT tensors in it).
  virtual at::ScalarType checkpoint_dtype() const = 0;
  // config.json as the processed model should be saved: the source's, updated for changes processors made
  // (e.g. tie_word_embeddings false once lm_head was untied). Savers add their own quantization_config.
  virtual nlohmann::json hf_config() const = 0;
  // Non-block rotation points (since ABI 3.0). Unties a tied lm_head first. nullopt: not rotatable.
  virtual std::optional<ModelRotationPoints> rotation_points() { return std::nullopt; }
};

// Tokenizes each text as its own batch of one (int64 [1, seq]); texts without tokens are skipped.
MODELSLIM_SDK_API std::vector<at::Tensor> tokenize_texts(const ModelAdapter& model,
                                                         const std::vector<std::string>& texts);
// Convenience: tokenizes `texts` and embeds each as its own batch of one.
MODELSLIM_SDK_API std::vector<BlockInput> embed_texts(ModelAdapter& model,
                                                      const std::vector<std::string>& texts);
// Full float forward through every block (loads each block in turn); returns logits.
MODELSLIM_SDK_API at::Tensor forward_logits(ModelAdapter& model, const at::Tensor& input_ids);

}  // namespace modelslim
