#include "modelslim/core/tune_fingerprint.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <xxhash.h>

#include "modelslim/core/paths.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/error.hpp"
#include "modelslim/version.hpp"

namespace modelslim::core {
namespace {

std::string hex(const XXH128_hash_t& hash) {
  char buffer[33];
  std::snprintf(buffer, sizeof buffer, "%016llx%016llx", static_cast<unsigned long long>(hash.high64),
                static_cast<unsigned long long>(hash.low64));
  return buffer;
}

bool is_model_file(const std::filesystem::path& file) {
  static const std::set<std::string> kExtensions = {".safetensors", ".json", ".model", ".txt", ".tiktoken"};
  return kExtensions.count(file.extension().string()) == 1;
}

// The existing regular file a word names, as given or in a dataset directory; empty if none.
std::filesystem::path existing_file(const std::string& word) {
  std::error_code error;
  const std::filesystem::path direct(word);
  if (std::filesystem::is_regular_file(direct, error)) return direct;
  if (direct.is_absolute() || word.find("..") != std::string::npos) return {};
  for (const auto& dir : dataset_dirs()) {
    if (std::filesystem::is_regular_file(dir / direct, error)) return dir / direct;
  }
  return {};
}

void collect_types(const YAML::Node& node, std::set<std::string>& types) {
  if (node.IsMap()) {
    for (const auto& item : node) {
      if (item.first.Scalar() == "type" && item.second.IsScalar()) types.insert(item.second.Scalar());
      collect_types(item.second, types);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) collect_types(item, types);
  }
}

}  // namespace

std::string file_hash(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, file.string() + ": cannot be read to fingerprint it");
  const std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  if (!state || XXH3_128bits_reset(state.get()) == XXH_ERROR)
    throw Error(ErrorCode::kUnexpected, "xxHash: cannot create a hash state");
  std::vector<char> buffer(std::size_t{16} << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got > 0) XXH3_128bits_update(state.get(), buffer.data(), got);
  }
  if (in.bad()) throw Error(ErrorCode::kIo, file.string() + ": read error while fingerprinting it");
  return hex(XXH3_128bits_digest(state.get()));
}

std::string model_fingerprint(const std::filesystem::path& model_path, const std::string& model_type) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(model_path)) {
    if (entry.is_regular_file() && is_model_file(entry.path())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string text = "model_type=" + model_type + "\n";
  for (const auto& file : files) text += file.filename().string() + "=" + file_hash(file) + "\n";
  const XXH128_hash_t hash = XXH3_128bits(text.data(), text.size());
  return hex(hash);
}

std::string FileFingerprints::of(const YAML::Node& node) {
  std::map<std::string, std::string> found;
  collect(node, found);
  std::string text;
  for (const auto& [word, hash] : found) text += word + "=" + hash + "\n";
  return text;
}

void FileFingerprints::collect(const YAML::Node& node, std::map<std::string, std::string>& out) {
  if (node.IsMap()) {
    for (const auto& item : node) collect(item.second, out);
  } else if (node.IsSequence()) {
    for (const auto& item : node) collect(item, out);
  } else if (node.IsScalar()) {
    std::istringstream words(node.Scalar());
    std::string word;
    while (words >> word) {
      auto cached = cache_.find(word);
      if (cached == cache_.end()) {
        const std::filesystem::path file = existing_file(word);
        cached = cache_.emplace(word, file.empty() ? std::string() : file_hash(file)).first;
      }
      if (!cached->second.empty()) out[word] = cached->second;
    }
  }
}

std::string involved_versions(const PluginRegistry& registry, const YAML::Node& node,
                              const std::string& adapter_type) {
  std::set<std::string> types;
  collect_types(node, types);
  std::set<std::string> plugins;
  for (const PluginEntry& entry : registry.entries()) {
    const bool adapter = entry.kind == PluginKind::kModelAdapter && entry.type == adapter_type;
    if (adapter || (entry.kind != PluginKind::kModelAdapter && types.count(entry.type) == 1)) {
      plugins.insert(entry.plugin + " " + entry.version);
    }
  }
  std::string text = std::string("modelslim ") + kVersion + " torch " + host_torch_version() + "\n";
  for (const auto& plugin : plugins) text += plugin + "\n";
  return text;
}

}  // namespace modelslim::core
