// Issue 14 §4: outlier suppression and rotation through MLA on random DeepSeek checkpoints (float32 weights,
// so the saved model carries no rounding): V2-lite style (q_proj, softmax routing) and V3 style (q_lora,
// sigmoid + group routing, YaRN, an MTP layer). Each processor alone must keep the float function: the
// logits of the processed model (`eval --quant_path ... --dump_logits`) equal the source model's within a
// relative 1e-4 (max |difference| / max |logit|), and the weights it touches did change.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/shared_generated.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

const char* const kText = "In the beginning God created the heaven and the earth. And the earth was";

// Made once per process for each style and flags (every case only reads it).
fs::path make_float_model(const std::string& style, const std::string& extra = "") {
  return test::shared_generated((test::build_dir() / "bin" / "make_random_deepseek").string() + " --style " +
                                style + " --weights float32 --seed 5 " + extra);
}

// Runs `process` (YAML list items) alone and returns the saved model's directory.
fs::path run_processor(const test::TempDir& dir, const fs::path& model, const std::string& label,
                       const std::string& process) {
  test::write_text(dir / "text.jsonl", nlohmann::json({{"inputs_pretokenized", kText}}).dump() + "\n");
  const fs::path practice = dir / (label + ".yaml");
  test::write_text(practice, "apiversion: modelslim_v1\nspec:\n  process:\n" + process +
                                 "  save:\n    - {type: ascendv1_saver, engine: none}\n  dataset: " +
                                 (dir / "text.jsonl").string() + "\n");
  const fs::path out = dir / ("out-" + label);
  const auto result =
      test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                        " --save_path " + out.string() + " --config_path " + practice.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return out;
}

// max |processed − source| / max |source| over the logits of kText.
double relative_logit_difference(const test::TempDir& dir, const fs::path& model, const fs::path& out,
                                 const std::string& label) {
  const fs::path dump = dir / ("dump-" + label);
  const auto result =
      test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                        " --quant_path " + out.string() + " --dataset " + (dir / "text.jsonl").string() +
                        " --metrics ppl --max_tokens 24 --dump_logits " + dump.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const at::Tensor expected =
      SafetensorsFile::open(dump / "float.safetensors")->load("text.0.logits").to(at::kDouble);
  const at::Tensor actual =
      SafetensorsFile::open(dump / "quantized.safetensors")->load("text.0.logits").to(at::kDouble);
  return (actual - expected).abs().max().item<double>() / expected.abs().max().item<double>();
}

// The weight changed beyond float32 rounding (the processor really transformed it).
bool changed(const fs::path& model, const fs::path& out, const std::string& name) {
  const at::Tensor before = SafetensorsCheckpoint::open_dir(model).load(name).to(at::kDouble);
  const at::Tensor after = SafetensorsCheckpoint::open_dir(out).load(name).to(at::kDouble);
  return (after - before).abs().max().item<double>() > 1e-3 * before.abs().max().item<double>();
}

void check_preserved(const std::string& label, const std::string& process,
                     const std::vector<std::string>& touched, const std::string& extra = "") {
  for (const std::string style : {"v2-lite", "v3"}) {
    CAPTURE(style);
    const test::TempDir dir("deepseek-" + label + "-" + style);
    const fs::path model = make_float_model(style, extra);
    const fs::path out = run_processor(dir, model, label, process);
    for (const std::string& name : touched) {
      const bool v3_only =
          name.find("q_a_proj") != std::string::npos || name.find("q_b_proj") != std::string::npos;
      if (v3_only && style != "v3") continue;
      CAPTURE(name);
      CHECK(changed(model, out, name));
    }
    const double difference = relative_logit_difference(dir, model, out, label);
    MESSAGE(label << " on " << style << ": max |processed - float| / max |logit| = " << difference);
    CHECK(difference < 1e-4);
  }
}

// Every MLA and MoE smoothing subgraph: input_layernorm → q_a/q_proj + kv_a, q_a_layernorm → q_b,
// kv_a_layernorm → kv_b, post_attention_layernorm → router + experts + shared experts (layer 1 is MoE).
const std::vector<std::string> kSmoothed = {"model.layers.1.self_attn.q_a_proj.weight",
                                            "model.layers.1.self_attn.q_b_proj.weight",
                                            "model.layers.1.self_attn.kv_a_proj_with_mqa.weight",
                                            "model.layers.1.self_attn.kv_b_proj.weight",
                                            "model.layers.1.mlp.gate.weight",
                                            "model.layers.1.mlp.experts.5.up_proj.weight",
                                            "model.layers.1.mlp.shared_experts.gate_proj.weight"};

}  // namespace

TEST_CASE("deepseek processors: smooth_quant through MLA and MoE keeps the float logits") {
  check_preserved("smooth_quant", "    - {type: smooth_quant, alpha: 0.5}\n", kSmoothed);
}

TEST_CASE("deepseek processors: iter_smooth (symmetric and asymmetric) keeps the float logits") {
  check_preserved("iter_smooth", "    - {type: iter_smooth, alpha: 0.9}\n", kSmoothed);
  check_preserved("iter_smooth_asym", "    - {type: iter_smooth, alpha: 0.9, symmetric: false}\n", kSmoothed);
}

TEST_CASE("deepseek processors: flex_smooth_quant keeps the float logits") {
  check_preserved("flex_smooth_quant", "    - {type: flex_smooth_quant}\n", kSmoothed);
}

TEST_CASE("deepseek processors: quarot rotates the residual stream through MLA and MoE, logits kept") {
  // Without the MTP layer: it is carried unchanged in float and cannot follow the rotation (next case).
  check_preserved("quarot", "    - {type: quarot}\n",
                  {"model.embed_tokens.weight", "lm_head.weight", "model.layers.1.self_attn.q_a_proj.weight",
                   "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
                   "model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.gate.weight",
                   "model.layers.1.mlp.experts.2.down_proj.weight", "model.layers.0.mlp.up_proj.weight"},
                  "--set num_nextn_predict_layers=0");
}

TEST_CASE("deepseek processors: quarot refuses a checkpoint with an MTP layer, naming it") {
  const test::TempDir dir("deepseek-quarot-mtp");
  const fs::path model = make_float_model("v3");
  test::write_text(dir / "text.jsonl", nlohmann::json({{"inputs_pretokenized", kText}}).dump() + "\n");
  test::write_text(dir / "p.yaml", "apiversion: modelslim_v1\nspec:\n  process:\n    - {type: quarot}\n");
  const auto result = test::run_command(test::modelslim_bin().string() + " quant --model_path " +
                                        model.string() + " --save_path " + (dir / "out").string() +
                                        " --config_path " + (dir / "p.yaml").string());
  CHECK(result.exit_code != 0);
  CHECK_MESSAGE(result.output.find("MTP layer(s) (model.layers.3)") != std::string::npos, result.output);
  CHECK_FALSE(fs::exists(dir / "out"));
}
