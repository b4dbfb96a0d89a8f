// A plugin whose register function adds two factories and then throws: neither may stay registered (their
// code is unloaded with the library).
#include <stdexcept>

#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_then_throw(modelslim::Registrar& registrar) {
  registrar.add_processor(
      "half_registered_processor",
      [](const modelslim::ConfigNode&,
         const modelslim::HostServices&) -> std::unique_ptr<modelslim::Processor> { return nullptr; });
  registrar.add_saver(
      "half_registered_saver",
      [](const modelslim::ConfigNode&, const modelslim::HostServices&) -> std::unique_ptr<modelslim::Saver> {
        return nullptr;
      });
  throw std::runtime_error("cannot find my_backend.so");
}
}  // namespace

MODELSLIM_PLUGIN("throwing_register", "1.0.0", register_then_throw)
