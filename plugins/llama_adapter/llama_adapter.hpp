// The `llama` model adapter: Llama 2/3, Mistral, Qwen2/2.5 and Qwen3 checkpoints in Hugging Face format.
#pragma once

#include <memory>

#include "modelslim/model_adapter.hpp"

namespace modelslim::llama {

std::unique_ptr<ModelAdapter> create_llama_adapter(const ModelLoadRequest& request);

}  // namespace modelslim::llama
