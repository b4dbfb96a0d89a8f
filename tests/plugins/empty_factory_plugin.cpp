// A plugin that registers an empty std::function as a factory.
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_empty(modelslim::Registrar& registrar) {
  registrar.add_processor("empty_processor", modelslim::ProcessorFactory{});
}
}  // namespace

MODELSLIM_PLUGIN("empty_factory", "1.0.0", register_empty)
