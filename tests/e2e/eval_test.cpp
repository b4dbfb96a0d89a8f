// `modelslim eval` and the builtin evaluator: the SAVED artifact evaluated with the deployment arithmetic
// agrees with the in-memory fake-quant forward used during calibration; bad evaluation datasets are clear
// errors.
#include "support/doctest.hpp"

#include <cmath>

#include "modelslim/core/pipeline.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/metrics.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

const char* kConfig = R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false}
        weight: {scope: per_channel, dtype: int8, symmetric: true}
  dataset: DATASET
)";

// A saver that carries one evaluation sequence through each block right after it was quantized, i.e. with the
// fake-quant linears linear_quant installed (the in-memory forward).
class FakeQuantProbe final : public Saver {
 public:
  explicit FakeQuantProbe(BlockInput state) : state_(std::move(state)) {}
  void begin(const SaveContext&) override {}
  void save_block(Block& block) override { state_.hidden = block.forward(state_.hidden, *state_.context); }
  void finish(const std::vector<NamedTensor>&) override {}
  const at::Tensor& hidden() const { return state_.hidden; }

 private:
  BlockInput state_;
};

fs::path plugin_dir() {
  return test::build_dir() / "lib" / "modelslim" / "plugins";
}

}  // namespace

TEST_CASE("saved artifact (deployment arithmetic) agrees with the in-memory fake-quant forward") {
  test::TempDir dir("eval-agree");
  const fs::path model = dir / "model";
  auto result = test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                                  (test::source_dir() / "data/demo/config.json").string() +
                                  " --byte-tokenizer --scale 0.05 --output " + model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const fs::path calib = test::source_dir() / "data" / "datasets" / "kjv_calib.jsonl";
  std::string config = kConfig;
  config.replace(config.find("DATASET"), 7, calib.string());
  test::write_text(dir / "w8a8.yaml", config);
  const std::string eval_text =
      read_text_dataset(test::source_dir() / "data/datasets/kjv_eval.jsonl").front();
  test::write_text(dir / "one.jsonl", nlohmann::json({{"inputs_pretokenized", eval_text}}).dump() + "\n");

  result = test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                             " --save_path " + (dir / "out").string() + " --config_path " +
                             (dir / "w8a8.yaml").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  result = test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                             " --quant_path " + (dir / "out").string() + " --dataset " +
                             (dir / "one.jsonl").string() + " --metrics ppl,acc,fidelity --json " +
                             (dir / "eval.json").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("top1_agree") != std::string::npos);
  const auto report = read_json_file(dir / "eval.json");
  double saved_ppl = 0.0;
  for (const auto& m : report["quantized"]) {
    if (m["metric"] == "ppl") saved_ppl = m["value"].get<double>();
  }

  // The same calibration in process, probing the fake-quant blocks.
  core::PluginRegistry registry;
  registry.load_directory(plugin_dir());
  const auto adapter = registry.load_model(model, "");
  const std::vector<std::int64_t> ids = adapter->tokenizer().encode(eval_text);
  core::Pipeline pipeline;
  const auto practice = parse_yaml_string(config, "w8a8.yaml");
  pipeline.processors.push_back(registry.create_processor(practice["spec"]["process"].at(0)));
  auto probe = std::make_unique<FakeQuantProbe>(adapter->embed(at::tensor(ids, at::kLong).reshape({1, -1})));
  FakeQuantProbe& probe_ref = *probe;
  pipeline.savers.push_back(std::move(probe));
  core::run_pipeline(*adapter, pipeline, tokenize_texts(*adapter, read_text_dataset(calib)),
                     core::RunnerKind::kLayerWise, SaveContext{dir / "unused", model, *adapter}, nullptr);
  const NextTokenStats stats = next_token_stats(adapter->head(probe_ref.hidden()).squeeze(0), ids);
  const double memory_ppl = std::exp(stats.nll_sum / double(stats.tokens));
  MESSAGE("ppl: saved artifact " << saved_ppl << ", in-memory fake quant " << memory_ppl);
  // Stated tolerance 0.3%: the in-memory path accumulates in float32, the deployed one in float64, which
  // flips the rounding of a few activations near a quantization boundary in later layers. How many flip
  // depends on the BLAS kernel the CPU gets (0.13% measured on a later CI Xeon; the 0.1% bound was tight).
  CHECK(saved_ppl == doctest::Approx(memory_ppl).epsilon(3e-3));
}

TEST_CASE("bad evaluation datasets: missing fields, wrong label index, empty file") {
  test::TempDir dir("eval-bad");
  const fs::path model = dir / "model";
  auto result = test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                                  (test::source_dir() / "data/demo/config.json").string() +
                                  " --byte-tokenizer --set num_hidden_layers=1 --output " + model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto eval = [&](const std::string& file, const std::string& content, const std::string& metrics) {
    test::write_text(dir / file, content);
    return test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                             " --dataset " + (dir / file).string() + " --metrics " + metrics);
  };
  result = eval("missing.jsonl", "{\"inputs_pretokenized\": \"a\", \"label\": 0}\n", "choice_acc");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("missing.jsonl:1: 'choices_pretokenized'") != std::string::npos);
  result = eval("label.jsonl",
                "{\"inputs_pretokenized\": \"a\", \"choices_pretokenized\": [\"b\", \"c\"], \"label\": 2}\n",
                "choice_acc");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("label.jsonl:1: label 2 is not an index into 2 choices") != std::string::npos);
  result = eval("empty.jsonl", "\n", "ppl");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("empty.jsonl: contains no samples") != std::string::npos);
  result = eval("ok.jsonl",
                "{\"inputs_pretokenized\": \"a\", \"choices_pretokenized\": [\"b\", \"c\"], \"label\": 1}\n",
                "choice_acc,perplexity");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("unknown metric 'perplexity'") != std::string::npos);
}
