// Where the host finds its plugins, datasets and practices, in the build tree and after installation.
#pragma once

#include <filesystem>
#include <vector>

namespace modelslim::core {

std::filesystem::path executable_dir();
// <exe>/../lib/modelslim/plugins, then MODELSLIM_PLUGIN_PATH (':'-separated).
std::vector<std::filesystem::path> default_plugin_dirs();
// Installed share/modelslim/datasets and the source tree's data/ (build tree), then MODELSLIM_DATASET_PATH.
std::vector<std::filesystem::path> dataset_dirs();
// The custom practice repository from the environment: MSMODELSLIM_CUSTOM_PRACTICE_REPO (the reference's
// name), else its alias MODELSLIM_CUSTOM_PRACTICE_REPO; empty when neither is set. tune writes there and
// quant --quant_type reads there.
std::filesystem::path custom_practice_repo();
// Practice repositories: --practice_repo / the custom practice repository first, then the shipped lab.
std::vector<std::filesystem::path> practice_dirs(const std::filesystem::path& user_repo);

}  // namespace modelslim::core
