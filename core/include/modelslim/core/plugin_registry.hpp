// Loads plugin libraries through the C handshake, refuses incompatible ones, and keeps the factories they
// register, keyed by (kind, type). It is also the HostServices handed to factories.
//
// Loading is all or nothing per library: symbols are bound eagerly (an unresolved one is a load error, not a
// crash mid-run), a plugin's factories are collected while its register function runs and committed only
// when it returns, and a factory that returns no object is an error naming the plugin, kind and type.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/core/plugin_registration.hpp"
#include "modelslim/registrar.hpp"

namespace boost::dll {
class shared_library;
}

namespace modelslim::core {

class PluginRegistry final : public HostServices {
 public:
  PluginRegistry();
  ~PluginRegistry() override;
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // Loads every lib*.so in `dir` (sorted); a missing directory is ignored. A library that loads but does not
  // export the entry symbol is not a modelslim plugin (e.g. a dependency placed beside the plugins): it is
  // skipped with a warning and listed by skipped(). Everything else that load_library refuses stays an error.
  void load_directory(const std::filesystem::path& dir);
  // Throws Error(kPlugin) naming the file: load failure (with the loader's message, e.g. the unresolved
  // symbol), missing entry symbol, ABI or LibTorch mismatch (naming both versions), a register function that
  // throws, an empty factory, duplicate type (naming both files). Nothing of a refused library is registered.
  void load_library(const std::filesystem::path& file);

  std::vector<PluginEntry> entries() const;
  std::vector<std::string> types(PluginKind kind) const;
  // Libraries load_directory skipped because they are not modelslim plugins.
  const std::vector<std::filesystem::path>& skipped() const { return skipped_; }

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

  // Picks the adapter: --model_type when it names a registered model type, architecture or adapter exactly
  // (case-insensitive), else config.json's model_type, then its architectures, matched the same way. Never by
  // prefix: "Qwen3-8B" (a model name for practice lookup) leaves the choice to config.json.
  std::string select_model_adapter(const std::string& requested, const nlohmann::json& hf_config) const;
  std::unique_ptr<ModelAdapter> create_model_adapter(const std::string& adapter_type,
                                                     const ModelLoadRequest& request) const;

 private:
  enum class Foreign { kRefuse, kSkip };  // what to do with a library lacking the entry symbol
  void load(const std::filesystem::path& file, Foreign foreign);
  void commit(PluginRegistration& registration);
  std::string type_of(const ConfigNode& config, PluginKind kind) const;
  const PluginEntry& entry_of(PluginKind kind, const std::string& type) const;
  // The factory's object, or Error(kPlugin) naming the plugin, kind and type when it returned none.
  template <typename T>
  std::unique_ptr<T> require_made(std::unique_ptr<T> made, PluginKind kind, const std::string& type) const;

  // Declared first so the libraries are unloaded after every factory that points into them is destroyed.
  std::vector<std::shared_ptr<boost::dll::shared_library>> libraries_;
  std::vector<PluginEntry> entries_;
  std::map<std::string, ProcessorFactory> processors_;
  std::map<std::string, SaverFactory> savers_;
  std::map<std::string, ModelAdapterFactory> model_adapters_;
  std::map<std::string, StrategyFactory> strategies_;
  std::map<std::string, EvaluatorFactory> evaluators_;
  std::vector<std::filesystem::path> skipped_;
};

// The model type a run works with: --model_type when given, else config.json's model_type, else the
// selected adapter's type. The one rule for quant, tune and every load_model.
std::string resolved_model_type(const std::string& requested, const nlohmann::json& hf_config,
                                const std::string& adapter_type);

}  // namespace modelslim::core
