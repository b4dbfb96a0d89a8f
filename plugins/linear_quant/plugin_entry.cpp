// Plugin entry of `linear_quant`.
#include "linear_quant_processor.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_linear_quant(modelslim::Registrar& registrar) {
  registrar.add_processor("linear_quant",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return std::make_unique<modelslim::linear_quant::LinearQuantProcessor>(config);
                          });
}
}  // namespace

MODELSLIM_PLUGIN("linear_quant", MODELSLIM_PLUGIN_VERSION, register_linear_quant)
