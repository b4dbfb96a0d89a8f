#include "modelslim/core/plugin_registration.hpp"

namespace modelslim::core {

void PluginRegistration::add(PluginKind kind, const std::string& type, std::vector<std::string> model_types,
                             AnyFactory factory) {
  PluginEntry entry = plugin_;
  entry.kind = kind;
  entry.type = type;
  entry.model_types = std::move(model_types);
  pending_.push_back(PendingFactory{std::move(entry), std::move(factory)});
}

void PluginRegistration::add_processor(const std::string& type, ProcessorFactory factory) {
  add(PluginKind::kProcessor, type, {}, std::move(factory));
}

void PluginRegistration::add_saver(const std::string& type, SaverFactory factory) {
  add(PluginKind::kSaver, type, {}, std::move(factory));
}

void PluginRegistration::add_model_adapter(const std::string& type, std::vector<std::string> model_types,
                                           ModelAdapterFactory factory) {
  add(PluginKind::kModelAdapter, type, std::move(model_types), std::move(factory));
}

void PluginRegistration::add_strategy(const std::string& type, StrategyFactory factory) {
  add(PluginKind::kStrategy, type, {}, std::move(factory));
}

void PluginRegistration::add_evaluator(const std::string& type, EvaluatorFactory factory) {
  add(PluginKind::kEvaluator, type, {}, std::move(factory));
}

}  // namespace modelslim::core
