// Plugin entry of the `moe` model adapter.
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"
#include "moe_adapter.hpp"
#include "moe_config.hpp"

namespace {
void register_moe_adapter(modelslim::Registrar& registrar) {
  registrar.add_model_adapter("moe", modelslim::moe::moe_model_types(), &modelslim::moe::create_moe_adapter);
}
}  // namespace

MODELSLIM_PLUGIN("moe_adapter", MODELSLIM_PLUGIN_VERSION, register_moe_adapter)
