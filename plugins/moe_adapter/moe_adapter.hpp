// The `moe` model adapter: Hugging Face Qwen3-MoE, Qwen2-MoE and Mixtral checkpoints.
#pragma once

#include <memory>

#include "modelslim/model_adapter.hpp"

namespace modelslim::moe {

std::unique_ptr<ModelAdapter> create_moe_adapter(const ModelLoadRequest& request);

}  // namespace modelslim::moe
