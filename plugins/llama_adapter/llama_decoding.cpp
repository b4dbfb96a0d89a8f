#include "llama_decoding.hpp"

#include "llama_block.hpp"
#include "modelslim/error.hpp"
#include "rope.hpp"

namespace modelslim::llama {
namespace {

class LlamaDecodingState final : public DecodingState {
 public:
  LlamaDecodingState(const LlamaConfig& config, EmbedTokens embed, std::vector<LlamaBlock*> blocks)
      : config_(config), embed_(std::move(embed)), blocks_(std::move(blocks)), caches_(blocks_.size()) {}

  at::Tensor forward(const at::Tensor& input_ids) override {
    const std::int64_t n = input_ids.size(1);
    if (length_ + n > config_.max_position_embeddings) {
      throw Error(ErrorCode::kSpec, "llama decoding: position " + std::to_string(length_ + n - 1) +
                                        " is past max_position_embeddings " +
                                        std::to_string(config_.max_position_embeddings));
    }
    const auto [cos, sin] = rope_tables_at(config_, length_, n);
    at::Tensor hidden = embed_(input_ids);
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      hidden = blocks_[i]->forward_cached(hidden, cos, sin, caches_[i]);
    length_ += n;
    return hidden;
  }

  std::int64_t length() const override { return length_; }

 private:
  const LlamaConfig& config_;
  EmbedTokens embed_;
  std::vector<LlamaBlock*> blocks_;
  std::vector<KeyValueCache> caches_;
  std::int64_t length_ = 0;
};

}  // namespace

std::unique_ptr<DecodingState> make_llama_decoding(const LlamaConfig& config, EmbedTokens embed,
                                                   const std::vector<Block*>& blocks) {
  std::vector<LlamaBlock*> llama_blocks;
  for (Block* block : blocks) {
    auto* llama_block = dynamic_cast<LlamaBlock*>(block);
    if (llama_block == nullptr) {
      throw Error(ErrorCode::kUnsupported, "llama decoding: block '" + (block ? block->name() : "null") +
                                               "' was not loaded by the llama adapter");
    }
    llama_blocks.push_back(llama_block);
  }
  if (static_cast<std::int64_t>(llama_blocks.size()) != config.num_layers) {
    throw Error(ErrorCode::kUnsupported, "llama decoding: got " + std::to_string(llama_blocks.size()) +
                                             " blocks, the model has " + std::to_string(config.num_layers));
  }
  return std::make_unique<LlamaDecodingState>(config, std::move(embed), std::move(llama_blocks));
}

}  // namespace modelslim::llama
