#include "modelslim/registrar.hpp"

namespace modelslim {

HostServices::~HostServices() = default;
Registrar::~Registrar() = default;

const char* plugin_kind_name(PluginKind kind) {
  switch (kind) {
    case PluginKind::kProcessor:
      return "processor";
    case PluginKind::kSaver:
      return "saver";
    case PluginKind::kModelAdapter:
      return "model_adapter";
    case PluginKind::kStrategy:
      return "strategy";
    case PluginKind::kEvaluator:
      return "evaluator";
  }
  return "unknown";
}

}  // namespace modelslim
