// A plugin that claims SDK ABI 99.0: the host must refuse it, naming both versions.
#include "modelslim/plugin.hpp"

namespace {
void register_nothing(modelslim::Registrar&) {}
}  // namespace

extern "C" __attribute__((visibility("default"))) const ModelSlimPluginInfo* modelslim_plugin_info() {
  // A 99.0 struct ends where 4.0's did (the 4.1 fields are zero here and never read).
  static const ModelSlimPluginInfo info{99, 0, "other_abi", "1.0.0", TORCH_VERSION, register_nothing, 0,
                                        0,  0};
  return &info;
}
