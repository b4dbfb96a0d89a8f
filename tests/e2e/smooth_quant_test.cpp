// smooth_quant keeps the float function (norm / s, W · diag(s)) on Llama, Qwen2 and Qwen3 variants with GQA
// and on the hard demo model, and reduces the W8A8 loss there; config errors name the field.
#include "support/doctest.hpp"

#include "modelslim/core/pipeline.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// Forwards one probe sequence through every block right after the processors changed it.
// Also records how far the norm weights moved from the checkpoint's (so a no-op smoothing cannot pass).
class Probe final : public Saver {
 public:
  Probe(BlockInput state, const fs::path& model_dir)
      : state_(std::move(state)), original_(SafetensorsCheckpoint::open_dir(model_dir)) {}
  void begin(const SaveContext&) override {}
  void save_block(Block& block) override {
    state_.hidden = block.forward(state_.hidden, *state_.context);
    for (const auto& subgraph : block.norm_linear_subgraphs()) {
      const at::Tensor before = original_.load(subgraph.norm).to(at::kFloat);
      change_ =
          std::max(change_, ((subgraph.norm_weight - before).abs() / before.abs()).max().item<double>());
    }
  }
  void finish(const std::vector<NamedTensor>&) override {}
  at::Tensor hidden() const { return state_.hidden; }
  double norm_change() const { return change_; }

 private:
  BlockInput state_;
  SafetensorsCheckpoint original_;
  double change_ = 0.0;
};

double smoothed_vs_float(const fs::path& model_dir) {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const auto model = registry.load_model(model_dir, "");
  const std::vector<std::int64_t> ids =
      model->tokenizer().encode("FOR GOD SO LOVED THE WORLD, and the earth");
  const at::Tensor input = at::tensor(ids, at::kLong).reshape({1, -1});
  const at::Tensor reference = forward_logits(*model, input);
  core::Pipeline pipeline;
  pipeline.processors.push_back(
      registry.create_processor(parse_yaml_string("{type: smooth_quant, alpha: 0.5}", "sq.yaml")));
  auto probe = std::make_unique<Probe>(model->embed(input), model_dir);
  Probe& probe_ref = *probe;
  pipeline.savers.push_back(std::move(probe));
  const auto texts = read_text_dataset(test::source_dir() / "data" / "datasets" / "kjv_calib.jsonl");
  core::run_pipeline(*model, pipeline, tokenize_texts(*model, {texts.begin(), texts.begin() + 8}),
                     core::RunnerKind::kLayerWise, SaveContext{"/unused", model_dir, *model}, nullptr);
  const at::Tensor smoothed = model->head(probe_ref.hidden());
  CHECK(probe_ref.norm_change() > 0.1);  // the smoothing really rescaled the norms
  return (smoothed - reference).abs().max().item<double>() / reference.abs().max().item<double>();
}

}  // namespace

TEST_CASE("smooth_quant keeps the float function") {
  test::TempDir dir("smooth");
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const std::vector<std::pair<std::string, std::string>> variants = {
      {"llama-gqa", "--set num_key_value_heads=1"},
      {"qwen2", "--set model_type=qwen2 --set num_key_value_heads=1"},
      {"qwen3", "--set model_type=qwen3 --set num_key_value_heads=1 --set head_dim=48"}};
  for (const auto& [label, flags] : variants) {
    const auto made = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                        " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                        " --output " + (dir / label).string() + " --scale 0.1 " + flags);
    REQUIRE_MESSAGE(made.exit_code == 0, made.output);
    const double error = smoothed_vs_float(dir / label);
    MESSAGE(label << ": max |smoothed - float| / max |logit| = " << error);
    CHECK(error < 1e-4);
  }
  const double hard = smoothed_vs_float(test::source_dir() / "data" / "demo-model-hard");
  MESSAGE("demo-model-hard: " << hard);
  CHECK(hard < 1e-4);
}

TEST_CASE("smooth_quant config errors") {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const auto config = parse_yaml_string(
      "process:\n  - {type: smooth_quant, alpha: 1.5}\n  - {type: smooth_quant, scale_min: 0}\n"
      "  - {type: smooth_quant, beta: 1}\n",
      "p.yaml");
  CHECK_THROWS_WITH_AS(registry.create_processor(config["process"].at(0)),
                       doctest::Contains("process.0.alpha"), Error);
  CHECK_THROWS_WITH_AS(registry.create_processor(config["process"].at(1)),
                       doctest::Contains("process.1.scale_min"), Error);
  CHECK_THROWS_WITH_AS(registry.create_processor(config["process"].at(2)),
                       doctest::Contains("unknown key 'beta'"), Error);
}
