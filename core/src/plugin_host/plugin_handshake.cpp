#include "modelslim/core/plugin_handshake.hpp"

#include "modelslim/error.hpp"
#include "modelslim/version.hpp"

namespace modelslim::core {
namespace {

[[noreturn]] void refuse(const std::filesystem::path& file, const std::string& what, const std::string& tip) {
  throw Error(ErrorCode::kPlugin, "plugin " + file.string() + ": " + what, tip);
}

std::string abi_marker(std::uint32_t value) {
  if (value == MODELSLIM_NOT_LIBSTDCXX) return "no _GLIBCXX_USE_CXX11_ABI (not libstdc++)";
  return "_GLIBCXX_USE_CXX11_ABI=" + std::to_string(value);
}

std::string library_version(const CxxLibrary& library) {
  if (library.release == MODELSLIM_NOT_LIBSTDCXX) return "a standard library other than libstdc++";
  return "libstdc++ " + std::to_string(library.release) + " (__GLIBCXX__ " + std::to_string(library.date) +
         ")";
}

void check_sdk_abi(const std::filesystem::path& file, const ModelSlimPluginInfo& info) {
  if (info.abi_major == kSdkAbiMajor && info.abi_minor <= kSdkAbiMinor) return;
  refuse(file,
         "was built against modelslim SDK ABI " + plugin_abi(info) + " but this host provides SDK ABI " +
             std::to_string(kSdkAbiMajor) + "." + std::to_string(kSdkAbiMinor),
         "rebuild the plugin against the installed modelslim SDK");
}

void check_torch(const std::filesystem::path& file, const ModelSlimPluginInfo& info) {
  const std::string torch_version = info.torch_version == nullptr ? "(unknown)" : info.torch_version;
  if (torch_version == host_torch_version()) return;
  refuse(
      file,
      "was built against LibTorch " + torch_version + " but this host uses LibTorch " + host_torch_version(),
      "rebuild the plugin with the same LibTorch as the host");
}

// std::string, std::list and exceptions cross the boundary: their layout (the CXX11 ABI marker) must agree,
// and the plugin may not need symbols of a libstdc++ newer than the one the host was built with.
void check_cxx_library(const std::filesystem::path& file, const ModelSlimPluginInfo& info) {
  if (info.abi_minor < 1) return;  // built before 4.1: the struct ends before these fields
  const CxxLibrary host = host_cxx_library();
  const CxxLibrary plugin{info.cxx11_abi, info.libstdcxx_release, info.libstdcxx_date};
  const std::string tip =
      "rebuild the plugin with the host's compiler and standard library, without "
      "-D_GLIBCXX_USE_CXX11_ABI";
  if (plugin.cxx11_abi != host.cxx11_abi) {
    refuse(file,
           "was built with " + abi_marker(plugin.cxx11_abi) + " but this host uses " +
               abi_marker(host.cxx11_abi) + " (std::string and std::list differ in layout)",
           tip);
  }
  if (plugin.release > host.release) {
    refuse(
        file,
        "was built against " + library_version(plugin) + ", newer than this host's " + library_version(host),
        tip);
  }
}

}  // namespace

CxxLibrary host_cxx_library() {
  return CxxLibrary{MODELSLIM_CXX11_ABI_MARKER, MODELSLIM_LIBSTDCXX_RELEASE, MODELSLIM_LIBSTDCXX_DATE};
}

std::string plugin_abi(const ModelSlimPluginInfo& info) {
  return std::to_string(info.abi_major) + "." + std::to_string(info.abi_minor);
}

void check_handshake(const std::filesystem::path& file, const ModelSlimPluginInfo& info) {
  check_sdk_abi(file, info);
  check_torch(file, info);
  check_cxx_library(file, info);
  if (info.register_plugin == nullptr || info.plugin_name == nullptr) {
    refuse(file, "has no name or register function", "");
  }
}

}  // namespace modelslim::core
