// Plugin entry of `cbq`: the processor cbq (the reference's v0 anti_method m5).
#include "cbq_processor.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_cbq(modelslim::Registrar& registrar) {
  registrar.add_processor("cbq", [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
    return std::make_unique<modelslim::cbq::CbqProcessor>(config);
  });
}
}  // namespace

MODELSLIM_PLUGIN("cbq", MODELSLIM_PLUGIN_VERSION, register_cbq)
