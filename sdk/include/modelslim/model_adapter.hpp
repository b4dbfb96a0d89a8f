// Model adapters turn a Hugging Face checkpoint into blocks the runner can visit one at a time.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/block.hpp"

namespace modelslim {

class Tokenizer;

struct ModelLoadRequest {
  std::filesystem::path model_dir;
  nlohmann::json hf_config;  // config.json
  std::string model_type;    // the --model_type the user gave, or config.json's model_type
  at::Device device = at::kCPU;
  bool trust_remote_code = false;
};

class ModelAdapter {
 public:
  virtual ~ModelAdapter() = default;

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
};

// Convenience: tokenizes `texts` and embeds each as its own batch of one.
std::vector<BlockInput> embed_texts(ModelAdapter& model, const std::vector<std::string>& texts);
// Full float forward through every block (loads each block in turn); returns logits.
at::Tensor forward_logits(ModelAdapter& model, const at::Tensor& input_ids);

}  // namespace modelslim
