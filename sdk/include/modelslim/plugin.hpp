// The plugin handshake: every plugin library exports one C symbol, `modelslim_plugin_info`, returning a
// static ModelSlimPluginInfo. The host reads the versions before touching any C++ type, refuses
// mismatches, then calls `register_plugin` with its Registrar (modelled on LLVM's llvmGetPassPluginInfo).
//
//   static void register_my_plugin(modelslim::Registrar& r) { r.add_processor("my_proc", ...); }
//   MODELSLIM_PLUGIN("my_plugin", "1.0.0", register_my_plugin)
#pragma once

#include <cstdint>

#include <torch/csrc/api/include/torch/version.h>

#include "modelslim/version.hpp"

namespace modelslim {
class Registrar;
}

extern "C" {
struct ModelSlimPluginInfo {
  std::uint32_t abi_major;     // MODELSLIM_SDK_ABI_MAJOR the plugin was compiled against
  std::uint32_t abi_minor;     // MODELSLIM_SDK_ABI_MINOR the plugin was compiled against
  const char* plugin_name;     // e.g. "llama_adapter"
  const char* plugin_version;  // the plugin's own version
  const char* torch_version;   // TORCH_VERSION the plugin was compiled against
  void (*register_plugin)(modelslim::Registrar& registrar);
};
}

#define MODELSLIM_PLUGIN_ENTRY_SYMBOL "modelslim_plugin_info"

#define MODELSLIM_PLUGIN(name, version, register_fn)                                                     \
  extern "C" __attribute__((visibility("default"))) const ModelSlimPluginInfo* modelslim_plugin_info() { \
    static const ModelSlimPluginInfo info{                                                               \
        MODELSLIM_SDK_ABI_MAJOR, MODELSLIM_SDK_ABI_MINOR, name, version, TORCH_VERSION, register_fn};    \
    return &info;                                                                                        \
  }
