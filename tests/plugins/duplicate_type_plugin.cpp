// Registers a processor type that the in-tree linear_quant plugin already provides.
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_duplicate(modelslim::Registrar& registrar) {
  registrar.add_processor(
      "linear_quant",
      [](const modelslim::ConfigNode&,
         const modelslim::HostServices&) -> std::unique_ptr<modelslim::Processor> { return nullptr; });
}
}  // namespace

MODELSLIM_PLUGIN("duplicate_type", "1.0.0", register_duplicate)
