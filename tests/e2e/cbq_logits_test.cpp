// cbq (v0 anti_method m5) on the hard demo model, whose planted outlier channels it must find: the float
// function is kept (held-out logits within 1e-4 relative of the untouched model's) while the weights really
// change. The processed logits come from a probe processor that runs last and pushes held-out sequences
// through every block right after it was processed.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include "modelslim/core/pipeline.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

class Probe final : public Processor {
 public:
  Probe(std::vector<at::Tensor> ids, const fs::path& model_dir)
      : ids_(std::move(ids)), original_(SafetensorsCheckpoint::open_dir(model_dir)) {}
  bool is_data_free() const override { return true; }
  void pre_run(RunContext& context) override {
    for (const at::Tensor& ids : ids_) states_.push_back(context.model.embed(ids));
  }
  void postprocess(BlockRequest& request) override {
    for (BlockInput& state : states_) state.hidden = request.block.forward(state.hidden, *state.context);
    for (Linear* linear : request.block.linears()) {
      const at::Tensor before = original_.load(linear->name() + ".weight").to(at::kFloat);
      weight_change_ = std::max(weight_change_, (linear->weight() - before).abs().max().item<double>() /
                                                    before.abs().max().item<double>());
    }
  }
  std::vector<BlockInput>& states() { return states_; }
  double weight_change() const { return weight_change_; }

 private:
  std::vector<at::Tensor> ids_;
  SafetensorsCheckpoint original_;
  std::vector<BlockInput> states_;
  double weight_change_ = 0.0;
};

std::vector<std::string> texts(const std::string& name, std::size_t count) {
  auto all = read_text_dataset(test::source_dir() / "data" / "datasets" / name);
  all.resize(std::min(all.size(), count));
  return all;
}

}  // namespace

TEST_CASE("cbq keeps the float function of the hard demo model and moves its outlier channels") {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const fs::path model_dir = test::source_dir() / "data" / "demo-model-hard";
  const auto reference_model = registry.load_model(model_dir, "");
  std::vector<at::Tensor> ids;
  for (const at::Tensor& t : tokenize_texts(*reference_model, texts("kjv_eval.jsonl", 4)))
    ids.push_back(t.narrow(1, 0, std::min<std::int64_t>(t.size(1), 128)));

  const auto model = registry.load_model(model_dir, "");
  core::Pipeline pipeline;
  pipeline.processors.push_back(registry.create_processor(parse_yaml_string("{type: cbq}", "p.yaml")));
  auto probe = std::make_unique<Probe>(ids, model_dir);
  Probe& probe_ref = *probe;
  pipeline.processors.push_back(std::move(probe));
  core::run_pipeline(*model, pipeline, tokenize_texts(*model, texts("kjv_calib.jsonl", 6)),
                     core::RunnerKind::kLayerWise, SaveContext{"/unused", model_dir, *model}, nullptr);

  double diff_max = 0.0, ref_max = 0.0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const at::Tensor logits = model->head(probe_ref.states()[i].hidden).to(at::kDouble);
    const at::Tensor expected = forward_logits(*reference_model, ids[i]).to(at::kDouble);
    diff_max = std::max(diff_max, (logits - expected).abs().max().item<double>());
    ref_max = std::max(ref_max, expected.abs().max().item<double>());
  }
  MESSAGE("cbq: max rel logit error " << diff_max / ref_max << ", weights moved "
                                      << probe_ref.weight_change());
  CHECK(diff_max / ref_max < 1e-4);
  CHECK(probe_ref.weight_change() > 1e-2);  // outlier channels were found and scaled
}
