// The plugin handshake: every plugin library exports one C symbol, `modelslim_plugin_info`, returning a
// static ModelSlimPluginInfo. The host reads the versions before touching any C++ type, refuses
// mismatches, then calls `register_plugin` with its Registrar (modelled on LLVM's llvmGetPassPluginInfo).
//
//   static void register_my_plugin(modelslim::Registrar& r) { r.add_processor("my_proc", ...); }
//   MODELSLIM_PLUGIN("my_plugin", MY_PLUGIN_VERSION, register_my_plugin)   // version from the build
//
// The struct only grows at its end, and each field says the ABI that added it: the host reads a field only
// when the plugin's abi_minor is at least that minor (docs/plugin-sdk.md, "Versioning").
#pragma once

#include <cstdint>

#include <torch/csrc/api/include/torch/version.h>

#include "modelslim/version.hpp"

namespace modelslim {
class Registrar;
}

// The C++ standard library a translation unit is compiled against. Objects of std:: types cross the plugin
// boundary, so host and plugin must agree on their layout (the CXX11 ABI marker) and the plugin must not
// need a newer libstdc++ than the host's. Not libstdc++ (e.g. libc++): all three are kNotLibstdcxx.
#define MODELSLIM_NOT_LIBSTDCXX 0xFFFFFFFFu
#if defined(__GLIBCXX__)
#define MODELSLIM_CXX11_ABI_MARKER static_cast<std::uint32_t>(_GLIBCXX_USE_CXX11_ABI)
#define MODELSLIM_LIBSTDCXX_RELEASE static_cast<std::uint32_t>(_GLIBCXX_RELEASE)
#define MODELSLIM_LIBSTDCXX_DATE static_cast<std::uint32_t>(__GLIBCXX__)
#else
#define MODELSLIM_CXX11_ABI_MARKER MODELSLIM_NOT_LIBSTDCXX
#define MODELSLIM_LIBSTDCXX_RELEASE MODELSLIM_NOT_LIBSTDCXX
#define MODELSLIM_LIBSTDCXX_DATE MODELSLIM_NOT_LIBSTDCXX
#endif

extern "C" {
struct ModelSlimPluginInfo {
  // ABI 1.0
  std::uint32_t abi_major;     // MODELSLIM_SDK_ABI_MAJOR the plugin was compiled against
  std::uint32_t abi_minor;     // MODELSLIM_SDK_ABI_MINOR the plugin was compiled against
  const char* plugin_name;     // e.g. "llama_adapter"
  const char* plugin_version;  // the plugin's own version
  const char* torch_version;   // TORCH_VERSION the plugin was compiled against
  void (*register_plugin)(modelslim::Registrar& registrar);
  // ABI 4.1 (read only when abi_minor >= 1)
  std::uint32_t cxx11_abi;          // _GLIBCXX_USE_CXX11_ABI: 1 = the C++11 std::string/std::list, 0 = old
  std::uint32_t libstdcxx_release;  // _GLIBCXX_RELEASE: the GCC major of the libstdc++ headers, e.g. 12
  std::uint32_t libstdcxx_date;     // __GLIBCXX__: their release date, e.g. 20230528
};
}

#define MODELSLIM_PLUGIN_ENTRY_SYMBOL "modelslim_plugin_info"

#define MODELSLIM_PLUGIN(name, version, register_fn)                                                     \
  extern "C" __attribute__((visibility("default"))) const ModelSlimPluginInfo* modelslim_plugin_info() { \
    static const ModelSlimPluginInfo info{MODELSLIM_SDK_ABI_MAJOR,                                       \
                                          MODELSLIM_SDK_ABI_MINOR,                                       \
                                          name,                                                          \
                                          version,                                                       \
                                          TORCH_VERSION,                                                 \
                                          register_fn,                                                   \
                                          MODELSLIM_CXX11_ABI_MARKER,                                    \
                                          MODELSLIM_LIBSTDCXX_RELEASE,                                   \
                                          MODELSLIM_LIBSTDCXX_DATE};                                     \
    return &info;                                                                                        \
  }
