// `modelslim tune` on the MoE demo model trained on real text (data/demo-moe-model, issue 13 §7): the served
// layout meets a 1% perplexity demand on held-out KJV text, and the saved model says so when evaluated.
#include "support/doctest.hpp"

#include <nlohmann/json.hpp>

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
namespace test = modelslim::test;

TEST_CASE("tune on the MoE demo model meets a 1% perplexity demand with dynamic experts") {
  test::TempDir dir("moe-demo-tune");
  const fs::path model = test::source_dir() / "data" / "demo-moe-model";
  const fs::path plan = test::source_dir() / "data" / "tune" / "demo-moe-w8a8.yaml";
  const auto tune =
      test::run_command(test::modelslim_bin().string() + " tune --model_path " + model.string() +
                        " --save_path " + (dir / "out").string() + " --config " + plan.string());
  REQUIRE_MESSAGE(tune.exit_code == 0, tune.output);
  const fs::path saved = dir / "out" / "quant_model";
  const nlohmann::json description = modelslim::read_json_file(saved / "quant_model_description.json");
  CHECK(description.value("model.layers.1.mlp.experts.5.down_proj.weight", "") == "W8A8_DYNAMIC");
  CHECK(description.value("model.layers.1.self_attn.q_proj.weight", "") == "W8A8");
  CHECK(description.value("model.layers.1.mlp.gate.weight", "") == "FLOAT");

  // Independently of the tuner's own measurement: eval of the saved model on the same held-out text.
  const fs::path json = dir / "eval.json";
  const auto eval =
      test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                        " --quant_path " + saved.string() + " --dataset " +
                        (test::source_dir() / "data" / "datasets" / "kjv_eval.jsonl").string() +
                        " --metrics ppl --max_samples 16 --max_tokens 128 --json " + json.string());
  REQUIRE_MESSAGE(eval.exit_code == 0, eval.output);
  MESSAGE(eval.output);
  const nlohmann::json results = modelslim::read_json_file(json);
  const auto ppl_of = [&](const char* side) {
    for (const auto& row : results.at(side)) {
      if (row.value("metric", "") == "ppl") return row.at("value").get<double>();
    }
    return 0.0;
  };
  const double float_ppl = ppl_of("float");
  const double quant_ppl = ppl_of("quantized");
  REQUIRE(float_ppl > 1.0);
  CHECK(quant_ppl <= float_ppl * 1.01);
}
