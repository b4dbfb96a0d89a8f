// Plugin entry of `flex_smooth`: processors flex_smooth_quant and flex_awq_ssz.
#include "flex_smooth_processor.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_flex_smooth(modelslim::Registrar& registrar) {
  registrar.add_processor("flex_smooth_quant",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return modelslim::flex_smooth::make_flex_smooth_quant(config);
                          });
  registrar.add_processor("flex_awq_ssz",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return modelslim::flex_smooth::make_flex_awq_ssz(config);
                          });
}
}  // namespace

MODELSLIM_PLUGIN("flex_smooth", MODELSLIM_PLUGIN_VERSION, register_flex_smooth)
