// Plugin entry of the `deepseek` model adapter.
#include "deepseek_adapter.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_deepseek_adapter(modelslim::Registrar& registrar) {
  registrar.add_model_adapter(
      "deepseek", {"deepseek_v2", "deepseek_v3", "kimi_k2", "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM"},
      &modelslim::deepseek::create_deepseek_adapter);
}
}  // namespace

MODELSLIM_PLUGIN("deepseek_adapter", MODELSLIM_PLUGIN_VERSION, register_deepseek_adapter)
