// Incremental decoding for Llama-family models: one key/value cache per block, the prompt prefilled in one
// forward, then any number of tokens per call at the following positions. Sliding-window models attend to
// their last sliding_window positions only; Qwen3's q/k norms are applied as in the full forward.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "llama_config.hpp"
#include "modelslim/incremental_decoding.hpp"

namespace modelslim::llama {

// token ids int64 [1, n] → embeddings float32 [1, n, hidden]
using EmbedTokens = std::function<at::Tensor(const at::Tensor& input_ids)>;

// Throws Error(kUnsupported) when a block is not a Llama block (another adapter's).
std::unique_ptr<DecodingState> make_llama_decoding(const LlamaConfig& config, EmbedTokens embed,
                                                   const std::vector<Block*>& blocks);

}  // namespace modelslim::llama
