// Plugin entry of the `builtin` evaluator.
#include "builtin_evaluator.hpp"
#include "modelslim/plugin.hpp"

namespace {
void register_builtin_evaluator(modelslim::Registrar& registrar) {
  registrar.add_evaluator("builtin",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices& host) {
                            return std::make_unique<modelslim::eval::BuiltinEvaluator>(config, host);
                          });
}
}  // namespace

MODELSLIM_PLUGIN("builtin_evaluator", MODELSLIM_PLUGIN_VERSION, register_builtin_evaluator)
