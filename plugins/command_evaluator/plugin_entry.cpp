// Plugin entry of the `command` evaluator.
#include "command_evaluator.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_command_evaluator(modelslim::Registrar& registrar) {
  registrar.add_evaluator("command", [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
    return std::make_unique<modelslim::eval::CommandEvaluator>(config);
  });
}
}  // namespace

MODELSLIM_PLUGIN("command_evaluator", MODELSLIM_PLUGIN_VERSION, register_command_evaluator)
