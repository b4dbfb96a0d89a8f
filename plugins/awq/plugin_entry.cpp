// Plugin entry of `awq`.
#include "awq_processor.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_awq(modelslim::Registrar& registrar) {
  registrar.add_processor("awq", [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
    return modelslim::awq::make_awq(config);
  });
}
}  // namespace

MODELSLIM_PLUGIN("awq", MODELSLIM_PLUGIN_VERSION, register_awq)
