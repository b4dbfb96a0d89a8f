#include <memory>

#include "fa3_quant.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_fa3_quant(modelslim::Registrar& registrar) {
  registrar.add_processor("fa3_quant",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return std::make_unique<modelslim::fa3::Fa3Quant>(config);
                          });
}
}  // namespace

MODELSLIM_PLUGIN("fa3_quant", MODELSLIM_PLUGIN_VERSION, register_fa3_quant)
