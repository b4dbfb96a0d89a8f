// `group`: a container whose children share calibration forwards per block. M linear_quant children over N
// samples cost N block forwards, not M·N. Hooks fan out to the children in list order; the group is
// data-free iff all children are.
//
//   - type: group
//     configs:
//       - {type: iter_smooth, alpha: 0.9}
//       - {type: linear_quant, qconfig: *w8a8_static, include: ["*self_attn*"]}
//       - {type: linear_quant, qconfig: *w8a8_dynamic, include: ["*mlp*"]}
//
// A block runs in phases. Consecutive linear_quant children form one phase: all preprocess, ONE forward,
// all postprocess (linear_quant only attaches its results and a fake-quant compute; it never writes a
// tensor of the block). Every other child (smoothing, rotation, nested groups, third-party processors) may
// change the block's weights, norms or biases, so it is a phase of its own with its full protocol
// (preprocess → process → postprocess), and the children after it observe a fresh forward of the changed
// block: the group then computes exactly what the same processors listed one after another compute. A
// shared phase checks that its children really left the block's tensors alone (BlockFingerprint) before
// the later children of the phase use the shared observations, and fails naming the child otherwise.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "block_fingerprint.hpp"
#include "modelslim/error.hpp"
#include "modelslim/plugin.hpp"
#include "modelslim/registrar.hpp"

namespace {

using modelslim::group::BlockFingerprint;

struct Child {
  std::unique_ptr<modelslim::Processor> processor;
  std::string label;    // "spec.process.0.configs.1 (linear_quant)"
  bool shares_forward;  // may join the forward of its neighbours (never writes the block's tensors)
};

class GroupProcessor final : public modelslim::Processor {
 public:
  GroupProcessor(const modelslim::ConfigNode& config, const modelslim::HostServices& host) {
    config.check_keys({"type", "configs"});
    if (!config.has("configs")) config.fail("missing required field 'configs' (a list of processor configs)");
    for (const modelslim::ConfigNode& node : config["configs"].items()) {
      const std::string type = node.get_string("type", "");
      children_.push_back(
          {host.create_processor(node), node.path() + " (" + type + ")", type == "linear_quant"});
    }
    if (children_.empty()) config["configs"].fail("needs at least one processor");
  }

  void pre_run(modelslim::RunContext& context) override {
    for (auto& child : children_) child.processor->pre_run(context);
  }
  // The whole block runs here, phase by phase (see the file comment); pre- and postprocess have nothing
  // left to do.
  void process(modelslim::BlockRequest& request) override {
    std::size_t begin = 0;
    while (begin < children_.size()) {
      std::size_t end = begin + 1;
      if (children_[begin].shares_forward) {
        while (end < children_.size() && children_[end].shares_forward) ++end;
        run_shared_phase(request, begin, end);
      } else {
        auto& processor = *children_[begin].processor;
        processor.preprocess(request);
        processor.process(request);
        processor.postprocess(request);
      }
      begin = end;
    }
  }
  void post_run(modelslim::RunContext& context) override {
    for (auto& child : children_) child.processor->post_run(context);
  }
  bool is_data_free() const override {
    return std::all_of(children_.begin(), children_.end(),
                       [](const Child& c) { return c.processor->is_data_free(); });
  }
  bool support_distributed() const override {
    return std::all_of(children_.begin(), children_.end(),
                       [](const Child& c) { return c.processor->support_distributed(); });
  }
  bool block_local() const override {
    return std::all_of(children_.begin(), children_.end(),
                       [](const Child& c) { return c.processor->block_local(); });
  }
  std::vector<std::string> warnings() const override {
    std::vector<std::string> all;
    for (const auto& child : children_) {
      for (auto& warning : child.processor->warnings()) all.push_back(std::move(warning));
    }
    return all;
  }

 private:
  // Children [begin, end): every preprocess, one forward (unless all are data-free), every postprocess.
  void run_shared_phase(modelslim::BlockRequest& request, std::size_t begin, std::size_t end) {
    bool data_free = true;
    for (std::size_t i = begin; i < end; ++i) {
      children_[i].processor->preprocess(request);
      data_free = data_free && children_[i].processor->is_data_free();
    }
    if (!data_free) modelslim::run_block_forward(request);
    for (std::size_t i = begin; i < end; ++i) {
      const BlockFingerprint before(request.block);
      children_[i].processor->postprocess(request);
      if (i + 1 < end) check_unchanged(request, before, children_[i]);
    }
  }

  static void check_unchanged(modelslim::BlockRequest& request, const BlockFingerprint& before,
                              const Child& child) {
    const BlockFingerprint after(request.block);
    if (after == before) return;
    throw modelslim::Error(modelslim::ErrorCode::kUnexpected,
                           child.label + " changed " + before.first_difference(after) + " of block " +
                               request.name +
                               " although the group's next children share its calibration forward, so "
                               "their statistics would describe the block before the change",
                           "list this processor outside the group (before it)");
  }

  std::vector<Child> children_;
};

void register_group(modelslim::Registrar& registrar) {
  registrar.add_processor("group",
                          [](const modelslim::ConfigNode& config, const modelslim::HostServices& host) {
                            return std::make_unique<GroupProcessor>(config, host);
                          });
}

}  // namespace

MODELSLIM_PLUGIN("group_processor", MODELSLIM_PLUGIN_VERSION, register_group)
