// Plugin entry of the `llama` model adapter.
#include "llama_adapter.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_llama_adapter(modelslim::Registrar& registrar) {
  registrar.add_model_adapter("llama",
                              {"llama", "mistral", "qwen2", "qwen3", "LlamaForCausalLM", "MistralForCausalLM",
                               "Qwen2ForCausalLM", "Qwen3ForCausalLM"},
                              &modelslim::llama::create_llama_adapter);
}
}  // namespace

MODELSLIM_PLUGIN("llama_adapter", MODELSLIM_PLUGIN_VERSION, register_llama_adapter)
