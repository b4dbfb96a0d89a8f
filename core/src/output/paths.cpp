#include "modelslim/core/paths.hpp"
#include "modelslim/core/env_names.hpp"

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

namespace modelslim::core {
namespace {

std::vector<std::filesystem::path> split_path_list(const char* value) {
  std::vector<std::filesystem::path> result;
  if (value == nullptr) return result;
  std::stringstream stream(value);
  std::string item;
  while (std::getline(stream, item, ':')) {
    if (!item.empty()) result.emplace_back(item);
  }
  return result;
}

// The install prefix as seen from the running binary (<prefix>/bin/modelslim), which is also the build tree
// root.
std::filesystem::path prefix_dir() {
  return executable_dir().parent_path();
}

}  // namespace

std::filesystem::path executable_dir() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::filesystem::current_path() : self.parent_path();
}

std::vector<std::filesystem::path> default_plugin_dirs() {
  std::vector<std::filesystem::path> dirs{prefix_dir() / MODELSLIM_PLUGIN_SUBDIR};
  for (auto& dir : split_path_list(std::getenv(env::kPluginPath))) dirs.push_back(std::move(dir));
  return dirs;
}

std::vector<std::filesystem::path> dataset_dirs() {
  std::vector<std::filesystem::path> dirs = split_path_list(std::getenv(env::kDatasetPath));
  dirs.push_back(prefix_dir() / MODELSLIM_DATA_SUBDIR / "datasets");
  dirs.push_back(std::filesystem::path(MODELSLIM_SOURCE_DIR) / "data" / "datasets");
  return dirs;
}

std::filesystem::path custom_practice_repo() {
  for (const char* name : {env::kCustomPracticeRepo, env::kCustomPracticeRepoAlias}) {
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') return value;
  }
  return {};
}

std::vector<std::filesystem::path> practice_dirs(const std::filesystem::path& user_repo) {
  std::vector<std::filesystem::path> dirs;
  if (!user_repo.empty()) dirs.push_back(user_repo);
  if (const std::filesystem::path custom = custom_practice_repo(); !custom.empty()) dirs.push_back(custom);
  dirs.push_back(prefix_dir() / MODELSLIM_DATA_SUBDIR / "practice_lab");
  dirs.push_back(std::filesystem::path(MODELSLIM_SOURCE_DIR) / "practice_lab");
  return dirs;
}

}  // namespace modelslim::core
