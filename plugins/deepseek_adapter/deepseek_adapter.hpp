// The `deepseek` model adapter: Hugging Face deepseek_v2, deepseek_v3 and kimi_k2 checkpoints (MLA attention,
// DeepSeek-MoE, MTP layers carried unchanged), FP8 block-quantized weights dequantized as they are read.
#pragma once

#include <memory>

#include "modelslim/model_adapter.hpp"

namespace modelslim::deepseek {

std::unique_ptr<ModelAdapter> create_deepseek_adapter(const ModelLoadRequest& request);

}  // namespace modelslim::deepseek
