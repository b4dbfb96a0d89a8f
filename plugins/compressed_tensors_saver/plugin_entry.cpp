#include "compressed_tensors_saver.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_compressed_tensors(modelslim::Registrar& registrar) {
  registrar.add_saver(
      "compressed_tensors", [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
        return std::make_unique<modelslim::compressed_tensors::CompressedTensorsSaver>(config);
      });
}
}  // namespace

MODELSLIM_PLUGIN("compressed_tensors_saver", MODELSLIM_PLUGIN_VERSION, register_compressed_tensors)
