// A plugin built against another LibTorch: the host must refuse it, naming both versions.
#include "modelslim/plugin.hpp"

namespace {
void register_nothing(modelslim::Registrar&) {}
}  // namespace

extern "C" __attribute__((visibility("default"))) const ModelSlimPluginInfo* modelslim_plugin_info() {
  static const ModelSlimPluginInfo info{MODELSLIM_SDK_ABI_MAJOR,
                                        MODELSLIM_SDK_ABI_MINOR,
                                        "other_torch",
                                        "1.0.0",
                                        "0.4.1",
                                        register_nothing,
                                        MODELSLIM_CXX11_ABI_MARKER,
                                        MODELSLIM_LIBSTDCXX_RELEASE,
                                        MODELSLIM_LIBSTDCXX_DATE};
  return &info;
}
