// `activation_report`: a processor that records, for every linear layer it visits, the largest absolute
// input value seen during calibration, and writes them as JSON to `output` when the run ends.
//
//   process:
//     - {type: activation_report, output: /tmp/report.json, include: ["*"]}
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "modelslim/config_node.hpp"
#include "modelslim/error.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/processor.hpp"
#include "modelslim/registrar.hpp"

namespace {

class ActivationReport final : public modelslim::Processor {
 public:
  explicit ActivationReport(const modelslim::ConfigNode& config)
      : output_([&] {
          config.check_keys({"type", "output", "include", "exclude"});
          if (!config.has("output")) config.fail("missing required field 'output' (a JSON file path)");
          return config["output"].as_string();
        }()),
        filter_(config.get_string_list("include", {"*"}), config.get_string_list("exclude", {})) {}

  bool is_data_free() const override { return false; }

  void preprocess(modelslim::BlockRequest& request) override {
    for (modelslim::Linear* linear : request.block.linears()) {
      if (!filter_.selects(linear->name())) continue;
      double& slot = absmax_[linear->name()];
      observers_.emplace_back(linear, linear->add_observer([&slot](const at::Tensor& input) {
        slot = std::max(slot, input.abs().max().item<double>());
      }));
    }
  }

  void postprocess(modelslim::BlockRequest&) override {
    for (const auto& [linear, id] : observers_) linear->remove_observer(id);
    observers_.clear();
  }

  void post_run(modelslim::RunContext&) override {
    std::ofstream out(output_);
    out << nlohmann::json(absmax_).dump(2) << "\n";
    if (!out) throw modelslim::Error(modelslim::ErrorCode::kIo, "activation_report: cannot write " + output_);
  }

 private:
  std::string output_;
  modelslim::NameFilter filter_;
  std::map<std::string, double> absmax_;
  std::vector<std::pair<modelslim::Linear*, std::size_t>> observers_;
};

void register_activation_report(modelslim::Registrar& registrar) {
  registrar.add_processor("activation_report",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices&) {
                            return std::make_unique<ActivationReport>(config);
                          });
}

}  // namespace

MODELSLIM_PLUGIN("activation_report", ACTIVATION_REPORT_VERSION, register_activation_report)
