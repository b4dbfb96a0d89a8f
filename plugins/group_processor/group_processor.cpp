// `group`: a container whose children share ONE calibration forward per block (M children over N samples cost
// N block forwards, not M·N). Hooks fan out to the children in list order; the group is data-free iff all
// children are. Children must rely on the shared calibration forward (the default `process`).
//
//   - type: group
//     configs:
//       - {type: linear_quant, qconfig: *w8a8_static, include: ["*self_attn*"]}
//       - {type: linear_quant, qconfig: *w8a8_dynamic, include: ["*mlp*"]}
#include <algorithm>
#include <memory>
#include <vector>

#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {

class GroupProcessor final : public modelslim::Processor {
 public:
  GroupProcessor(const modelslim::ConfigNode& config, const modelslim::HostServices& host) {
    config.check_keys({"type", "configs"});
    if (!config.has("configs")) config.fail("missing required field 'configs' (a list of processor configs)");
    for (const modelslim::ConfigNode& child : config["configs"].items())
      children_.push_back(host.create_processor(child));
    if (children_.empty()) config["configs"].fail("needs at least one processor");
  }

  void pre_run(modelslim::RunContext& context) override {
    for (auto& child : children_) child->pre_run(context);
  }
  void preprocess(modelslim::BlockRequest& request) override {
    for (auto& child : children_) child->preprocess(request);
  }
  void process(modelslim::BlockRequest& request) override {
    if (!is_data_free()) modelslim::run_block_forward(request);  // the one shared forward
  }
  void postprocess(modelslim::BlockRequest& request) override {
    for (auto& child : children_) child->postprocess(request);
  }
  void post_run(modelslim::RunContext& context) override {
    for (auto& child : children_) child->post_run(context);
  }
  bool is_data_free() const override {
    return std::all_of(children_.begin(), children_.end(), [](const auto& c) { return c->is_data_free(); });
  }
  bool support_distributed() const override {
    return std::all_of(children_.begin(), children_.end(),
                       [](const auto& c) { return c->support_distributed(); });
  }
  bool block_local() const override {
    return std::all_of(children_.begin(), children_.end(), [](const auto& c) { return c->block_local(); });
  }
  std::vector<std::string> warnings() const override {
    std::vector<std::string> all;
    for (const auto& child : children_) {
      for (auto& warning : child->warnings()) all.push_back(std::move(warning));
    }
    return all;
  }

 private:
  std::vector<std::unique_ptr<modelslim::Processor>> children_;
};

void register_group(modelslim::Registrar& registrar) {
  registrar.add_processor("group",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices& host) {
                            return std::make_unique<GroupProcessor>(config, host);
                          });
}

}  // namespace

MODELSLIM_PLUGIN("group_processor", "0.1.0", register_group)
