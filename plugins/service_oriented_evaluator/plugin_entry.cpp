// Plugin entry of the `service_oriented` evaluator.
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"
#include "service_evaluator.hpp"

namespace {

class HostDatasets final : public modelslim::service::DatasetFinder {
 public:
  explicit HostDatasets(const modelslim::HostServices& host) : host_(host) {}
  std::string find(const std::string& name_or_path) const override {
    return host_.find_dataset(name_or_path).string();
  }

 private:
  const modelslim::HostServices& host_;
};

void register_service_oriented(modelslim::Registrar& registrar) {
  registrar.add_evaluator(
      "service_oriented", [](const modelslim::ConfigNode& config, const modelslim::HostServices& host) {
        return std::make_unique<modelslim::service::ServiceOrientedEvaluator>(config, HostDatasets(host));
      });
}

}  // namespace

MODELSLIM_PLUGIN("service_oriented_evaluator", MODELSLIM_PLUGIN_VERSION, register_service_oriented)
