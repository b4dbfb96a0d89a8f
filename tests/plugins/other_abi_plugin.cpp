// A plugin that claims SDK ABI 99.0: the host must refuse it, naming both versions.
#include "modelslim/plugin.hpp"

namespace {
void register_nothing(modelslim::Registrar&) {}
}  // namespace

extern "C" __attribute__((visibility("default"))) const ModelSlimPluginInfo* modelslim_plugin_info() {
  static const ModelSlimPluginInfo info{99, 0, "other_abi", "1.0.0", TORCH_VERSION, register_nothing};
  return &info;
}
