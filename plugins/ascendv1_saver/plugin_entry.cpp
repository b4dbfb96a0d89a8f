// Plugin entry of `ascendv1_saver`.
#include "ascendv1_saver.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_ascendv1_saver(modelslim::Registrar& registrar) {
  registrar.add_saver("ascendv1_saver",
                      [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                        return std::make_unique<modelslim::ascendv1::AscendV1Saver>(config);
                      });
}
}  // namespace

MODELSLIM_PLUGIN("ascendv1_saver", MODELSLIM_PLUGIN_VERSION, register_ascendv1_saver)
