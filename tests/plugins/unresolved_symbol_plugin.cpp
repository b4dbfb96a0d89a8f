// A plugin whose factory calls a function no library defines: with lazy binding it loads and the process dies
// ("symbol lookup error") the first time the factory runs; with eager binding the load itself fails.
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

extern "C" int modelslim_test_symbol_nobody_defines();

namespace {
void register_unresolved(modelslim::Registrar& registrar) {
  registrar.add_processor("unresolved_processor",
                          [](const modelslim::ConfigNode&,
                             const modelslim::HostServices&) -> std::unique_ptr<modelslim::Processor> {
                            static_cast<void>(modelslim_test_symbol_nobody_defines());
                            return nullptr;
                          });
}
}  // namespace

MODELSLIM_PLUGIN("unresolved_symbol", "1.0.0", register_unresolved)
