// What a tune result depends on, as content hashes: the model's bytes, every file the evaluation or a
// candidate reads (datasets, scripts), and the versions of the host and of every plugin involved. A change
// to any of them changes the history keys, so nothing stale is answered from the history.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <yaml-cpp/yaml.h>

namespace modelslim::core {

class PluginRegistry;

// 128-bit XXH3 of a file's bytes (read in large chunks), as 32 hex digits. Throws Error(kIo) naming it.
std::string file_hash(const std::filesystem::path& file);

// The model directory's content: the model type and every top-level weight, config and tokenizer file
// (*.safetensors, *.json, *.model, *.txt, *.tiktoken), by name and content hash.
std::string model_fingerprint(const std::filesystem::path& model_path, const std::string& model_type);

// Hashes the files a config names, once each per run: every whitespace-separated word of every string in
// the YAML that is an existing file as given or in the dataset directories (datasets, scripts).
class FileFingerprints {
 public:
  // "<word>=<hash>" lines, sorted, for every file the node names.
  std::string of(const YAML::Node& node);

 private:
  void collect(const YAML::Node& node, std::map<std::string, std::string>& out);
  std::map<std::string, std::string> cache_;  // word → hash ("" when it is no file)
};

// "modelslim <version> torch <version>" plus "<plugin> <version>" of every plugin registering a type that
// the YAML names (any `type:` value) or the model adapter `adapter_type`.
std::string involved_versions(const PluginRegistry& registry, const YAML::Node& node,
                              const std::string& adapter_type = "");

}  // namespace modelslim::core
