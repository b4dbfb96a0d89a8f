// A plugin whose factories return no object (one per kind the CLI creates).
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {
void register_null(modelslim::Registrar& registrar) {
  registrar.add_processor(
      "null_processor",
      [](const modelslim::ConfigNode&,
         const modelslim::HostServices&) -> std::unique_ptr<modelslim::Processor> { return nullptr; });
  registrar.add_saver(
      "null_saver",
      [](const modelslim::ConfigNode&, const modelslim::HostServices&) -> std::unique_ptr<modelslim::Saver> {
        return nullptr;
      });
  registrar.add_model_adapter(
      "null_adapter", {"null_model"},
      [](const modelslim::ModelLoadRequest&) -> std::unique_ptr<modelslim::ModelAdapter> { return nullptr; });
  registrar.add_strategy(
      "null_strategy",
      [](const modelslim::ConfigNode&,
         const modelslim::HostServices&) -> std::unique_ptr<modelslim::Strategy> { return nullptr; });
  registrar.add_evaluator(
      "null_evaluator",
      [](const modelslim::ConfigNode&,
         const modelslim::HostServices&) -> std::unique_ptr<modelslim::Evaluator> { return nullptr; });
}
}  // namespace

MODELSLIM_PLUGIN("null_factory", "1.0.0", register_null)
