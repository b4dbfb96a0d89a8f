// Loads plugin libraries through the C handshake, refuses incompatible ones, and keeps the factories they
// register, keyed by (kind, type). It is also the HostServices handed to factories.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/registrar.hpp"

namespace boost::dll {
class shared_library;
}

namespace modelslim::core {

struct PluginEntry {
  PluginKind kind;
  std::string type;
  std::string plugin;
  std::string version;
  std::filesystem::path file;
  std::vector<std::string> model_types;  // model adapters only
};

class PluginRegistry final : public Registrar, public HostServices {
 public:
  PluginRegistry();
  ~PluginRegistry() override;
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads every lib*.so in `dir` (sorted); a missing directory is ignored.
  void load_directory(const std::filesystem::path& dir);
  // Throws Error(kPlugin) naming the file: load failure (with the loader's message), missing entry symbol,
  // ABI or LibTorch mismatch (naming both versions), duplicate type (naming both files).
  void load_library(const std::filesystem::path& file);

  std::vector<PluginEntry> entries() const;
  std::vector<std::string> types(PluginKind kind) const;

  // Registrar
  void add_processor(const std::string& type, ProcessorFactory factory) override;
  void add_saver(const std::string& type, SaverFactory factory) override;
  void add_model_adapter(const std::string& type, std::vector<std::string> model_types,
                         ModelAdapterFactory factory) override;
  void add_strategy(const std::string& type, StrategyFactory factory) override;
  void add_evaluator(const std::string& type, EvaluatorFactory factory) override;

  // HostServices: dispatch on the config's `type` field; unknown types list the known ones.
  std::unique_ptr<Processor> create_processor(const ConfigNode& config) const override;
  std::unique_ptr<Saver> create_saver(const ConfigNode& config) const override;
  std::unique_ptr<ModelAdapter> load_model(const std::filesystem::path& model_dir,
                                           const std::string& model_type) const override;
  std::unique_ptr<ModelAdapter> load_model_replacing(
      const std::filesystem::path& model_dir, const std::string& model_type,
      const std::set<std::string>& replaced_weights) const override;
  std::filesystem::path find_dataset(const std::string& name_or_path) const override;
  std::unique_ptr<Strategy> create_strategy(const ConfigNode& config) const;
  std::unique_ptr<Evaluator> create_evaluator(const ConfigNode& config) const;

  // Picks the adapter for a user-given name (--model_type) or, when empty, config.json's model_type and
  // architectures. Matches a registered model type exactly or as a prefix ("Qwen3-8B" → qwen3), longest
  // first.
  std::string select_model_adapter(const std::string& requested, const nlohmann::json& hf_config) const;
  std::unique_ptr<ModelAdapter> create_model_adapter(const std::string& adapter_type,
                                                     const ModelLoadRequest& request) const;

 private:
  struct Loaded;
  void add_entry(PluginKind kind, const std::string& type, std::vector<std::string> model_types);
  std::string type_of(const ConfigNode& config, PluginKind kind) const;

  // Declared first so the libraries are unloaded after every factory that points into them is destroyed.
  std::vector<std::shared_ptr<boost::dll::shared_library>> libraries_;
  std::vector<PluginEntry> entries_;
  std::map<std::string, ProcessorFactory> processors_;
  std::map<std::string, SaverFactory> savers_;
  std::map<std::string, ModelAdapterFactory> model_adapters_;
  std::map<std::string, StrategyFactory> strategies_;
  std::map<std::string, EvaluatorFactory> evaluators_;
  // The plugin being registered (name, version, file), set while its register callback runs.
  std::optional<PluginEntry> registering_;
};

}  // namespace modelslim::core
