// The load-time checks of a plugin's ModelSlimPluginInfo, before any C++ type crosses the boundary: the SDK
// ABI (major equal, minor not newer), the LibTorch version, and from ABI 4.1 on the C++ standard library.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "modelslim/plugin.hpp"

namespace modelslim::core {

// The C++ standard library a binary was compiled against (the 4.1 fields of ModelSlimPluginInfo).
struct CxxLibrary {
  std::uint32_t cxx11_abi = MODELSLIM_NOT_LIBSTDCXX;
  std::uint32_t release = MODELSLIM_NOT_LIBSTDCXX;
  std::uint32_t date = MODELSLIM_NOT_LIBSTDCXX;
};

// This host's, from the same macros the plugin's handshake records.
CxxLibrary host_cxx_library();

// "4.1"
std::string plugin_abi(const ModelSlimPluginInfo& info);

// Throws Error(kPlugin) naming `file`, the plugin's value and the host's when the plugin cannot run here.
void check_handshake(const std::filesystem::path& file, const ModelSlimPluginInfo& info);

}  // namespace modelslim::core
