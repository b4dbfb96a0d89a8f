// The Registrar one plugin's register function writes to: it only collects (kind, type, factory), so the
// registry can commit the plugin's factories all together after the function returned, or none of them when
// it threw. A plugin that keeps the Registrar& and calls it later reaches nothing.
#pragma once

#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include "modelslim/registrar.hpp"

namespace modelslim::core {

struct PluginEntry {
  PluginKind kind;
  std::string type;
  std::string plugin;
  std::string version;
  std::filesystem::path file;
  std::vector<std::string> model_types;  // model adapters only
  std::string sdk_abi;                   // the SDK ABI the plugin was built against, e.g. "4.0"
};

// Alternatives in PluginKind order.
using AnyFactory =
    std::variant<ProcessorFactory, SaverFactory, ModelAdapterFactory, StrategyFactory, EvaluatorFactory>;

struct PendingFactory {
  PluginEntry entry;
  AnyFactory factory;
};

class PluginRegistration final : public Registrar {
 public:
  // `plugin`: name, version and file shared by every entry (kind and type are filled per factory).
  explicit PluginRegistration(PluginEntry plugin) : plugin_(std::move(plugin)) {}

  void add_processor(const std::string& type, ProcessorFactory factory) override;
  void add_saver(const std::string& type, SaverFactory factory) override;
  void add_model_adapter(const std::string& type, std::vector<std::string> model_types,
                         ModelAdapterFactory factory) override;
  void add_strategy(const std::string& type, StrategyFactory factory) override;
  void add_evaluator(const std::string& type, EvaluatorFactory factory) override;

  const PluginEntry& plugin() const { return plugin_; }
  std::vector<PendingFactory>& pending() { return pending_; }

 private:
  void add(PluginKind kind, const std::string& type, std::vector<std::string> model_types,
           AnyFactory factory);

  PluginEntry plugin_;
  std::vector<PendingFactory> pending_;
};

}  // namespace modelslim::core
