// Versions of the modelslim SDK. The ABI major must match exactly between host and plugin; a plugin with a
// smaller or equal ABI minor loads on a newer host (entries are only ever appended).
#pragma once

#include <cstdint>

#define MODELSLIM_SDK_ABI_MAJOR 4
#define MODELSLIM_SDK_ABI_MINOR 0
#define MODELSLIM_VERSION_STRING "0.1.0"

namespace modelslim {
inline constexpr std::uint32_t kSdkAbiMajor = MODELSLIM_SDK_ABI_MAJOR;
inline constexpr std::uint32_t kSdkAbiMinor = MODELSLIM_SDK_ABI_MINOR;
inline constexpr const char* kVersion = MODELSLIM_VERSION_STRING;

// LibTorch version the host was built with, e.g. "1.13.0".
const char* host_torch_version();
}  // namespace modelslim
