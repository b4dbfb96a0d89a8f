// Versions of the modelslim SDK (policy and history: docs/plugin-sdk.md, "Versioning").
// - ABI major: changes only when an existing call's meaning or an existing type's layout changes. Host and
//   plugin must agree exactly (the library soname carries it too).
// - ABI minor: additions only (new headers, free functions, optional interfaces found by dynamic_cast, fields
// at
//   the end of ModelSlimPluginInfo). A plugin built against minor m loads in any host of the same major with
//   minor >= m.
// MODELSLIM_VERSION_STRING is the release; CMake reads it from here (project version, in-tree plugin
// versions).
#pragma once

#include <cstdint>

#include "modelslim/export.hpp"

#define MODELSLIM_SDK_ABI_MAJOR 4
#define MODELSLIM_SDK_ABI_MINOR 7
#define MODELSLIM_VERSION_STRING "0.1.0"

namespace modelslim {
inline constexpr std::uint32_t kSdkAbiMajor = MODELSLIM_SDK_ABI_MAJOR;
inline constexpr std::uint32_t kSdkAbiMinor = MODELSLIM_SDK_ABI_MINOR;
inline constexpr const char* kVersion = MODELSLIM_VERSION_STRING;

// LibTorch version the host was built with, e.g. "1.13.0".
MODELSLIM_SDK_API const char* host_torch_version();
}  // namespace modelslim
