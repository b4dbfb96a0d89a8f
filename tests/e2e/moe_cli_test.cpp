// The CLI flows on tiny random mixture-of-experts checkpoints (issue 13): quant W8A8 with each saver, eval,
// analyze and a tune smoke run; and calibration coverage of an expert no calibration token reaches (a router
// bias in the test checkpoint keeps every token away from it).
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/moe_models.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using namespace modelslim;

namespace {

// The router and the shared expert's gate stay float, as the reference's MoE practices keep them.
const char* const kMoePractice = R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false}
        weight: {scope: per_channel, dtype: int8}
      include: ["*"]
      exclude: ["*mlp.gate", "*block_sparse_moe.gate", "*shared_expert_gate"]EXTRA
  save:
    - {type: SAVER}
  dataset: DATASET
)";

// What vllm-ascend and vLLM serve on MoE layers (the reference's Qwen3-MoE practices): routed experts
// W8A8_DYNAMIC, attention and dense/shared MLPs W8A8 static, routers float. Both savers refuse static
// activation scales on routed experts (docs/savers.md, "Mixture of experts").
const char* const kMoeServedPractice = R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_token, dtype: int8}
        weight: {scope: per_channel, dtype: int8}
      include: ["*.experts.*"]
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false}
        weight: {scope: per_channel, dtype: int8}
      include: ["*"]
      exclude: ["*mlp.gate", "*block_sparse_moe.gate", "*shared_expert_gate", "*.experts.*"]
  save:
    - {type: SAVER}
  dataset: DATASET
)";

std::string served_practice(const fs::path& dataset, const std::string& saver) {
  std::string text = test::with_dataset(kMoeServedPractice, dataset);
  text.replace(text.find("SAVER"), 5, saver);
  return text;
}

std::string moe_cli_practice(const fs::path& dataset, const std::string& saver,
                             const std::string& extra = "") {
  std::string text = test::with_dataset(kMoePractice, dataset);
  text.replace(text.find("SAVER"), 5, saver);
  text.replace(text.find("EXTRA"), 5, extra);
  return text;
}

fs::path write_dataset(const test::TempDir& dir) {
  const fs::path file = dir / "calib.jsonl";
  test::write_text(file,
                   "{\"inputs_pretokenized\": \"THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG\"}\n"
                   "{\"inputs_pretokenized\": \"IN THE BEGINNING GOD CREATED THE HEAVEN AND THE EARTH\"}\n"
                   "{\"inputs_pretokenized\": \"AND THE EARTH WAS WITHOUT FORM AND VOID\"}\n");
  return file;
}

test::CommandResult moe_cli_quant(const fs::path& model, const fs::path& save, const fs::path& config) {
  return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                           " --save_path " + save.string() + " --config_path " + config.string());
}

// Adds `name` to the checkpoint (rewritten whole: the test models are tiny).
void add_tensor(const fs::path& model, const std::string& name, const at::Tensor& value) {
  std::map<std::string, at::Tensor> tensors;
  {
    const auto checkpoint = SafetensorsCheckpoint::open_dir(model);
    for (const std::string& key : checkpoint.names()) tensors[key] = checkpoint.load(key).clone();
  }
  tensors[name] = value;
  const fs::path temporary = model / "model.safetensors.new";
  SafetensorsWriter writer(temporary, {{"format", "pt"}});
  for (const auto& [key, tensor] : tensors) writer.add(key, tensor);
  writer.finish();
  fs::rename(temporary, model / "model.safetensors");
}

}  // namespace

TEST_CASE("moe CLI: quant W8A8 (ascendv1), eval and analyze on each family") {
  test::TempDir dir("moe-cli");
  const fs::path dataset = write_dataset(dir);
  test::write_text(dir / "w8a8.yaml", served_practice(dataset, "ascendv1_saver"));
  for (const std::string family : {"qwen3_moe", "qwen2_moe", "mixtral"}) {
    CAPTURE(family);
    const fs::path model = test::shared_moe_model(family);
    const fs::path save = dir / (family + "-w8a8");
    auto result = moe_cli_quant(model, save, dir / "w8a8.yaml");
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    const nlohmann::json description = read_json_file(save / "quant_model_description.json");
    // qwen2_moe: only layer 1 is sparse (decoder_sparse_step 2).
    const std::string sparse = family == "mixtral"     ? "model.layers.0.block_sparse_moe."
                               : family == "qwen2_moe" ? "model.layers.1.mlp."
                                                       : "model.layers.0.mlp.";
    const std::string down = family == "mixtral" ? "experts.3.w2" : "experts.3.down_proj";
    CHECK_MESSAGE(description.value(sparse + down + ".weight", "") == "W8A8_DYNAMIC", description.dump());
    CHECK(description.value("model.layers.0.self_attn.q_proj.weight", "") == "W8A8");
    CHECK(description.value(sparse + "gate.weight", "") == "FLOAT");  // the router stays float
    if (family == "qwen2_moe") {
      CHECK(description.value("model.layers.1.mlp.shared_expert_gate.weight", "") == "FLOAT");
      CHECK(description.value("model.layers.1.mlp.shared_expert.up_proj.weight", "") == "W8A8");
      CHECK(description.value("model.layers.0.mlp.up_proj.weight", "") == "W8A8");  // a dense layer
    }
    // Tokens per expert are logged for each sparse block.
    CHECK_MESSAGE(result.output.find("calibration tokens per expert") != std::string::npos, result.output);

    result =
        test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                          " --quant_path " + save.string() + " --dataset " + dataset.string() +
                          " --metrics ppl --max_tokens 32 --json " + (dir / (family + ".json")).string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    MESSAGE(result.output);
  }
  const fs::path model = test::shared_moe_model("qwen3_moe");
  const auto result = test::run_command(test::modelslim_bin().string() + " analyze --model_path " +
                                        model.string() + " --calib_dataset " + dataset.string() +
                                        " --output " + (dir / "ranking.json").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const std::string ranking = read_json_file(dir / "ranking.json").dump();
  CHECK(ranking.find("mlp.experts.") != std::string::npos);               // experts are ranked
  CHECK(ranking.find("model.layers.0.mlp.gate\"") != std::string::npos);  // and the router
}

TEST_CASE("moe CLI: compressed_tensors saves dynamic experts and refuses static ones before any work") {
  test::TempDir dir("moe-ct");
  const fs::path dataset = write_dataset(dir);
  const fs::path model = test::shared_moe_model("qwen3_moe");
  test::write_text(dir / "ct.yaml", served_practice(dataset, "compressed_tensors"));
  auto result = moe_cli_quant(model, dir / "out", dir / "ct.yaml");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const nlohmann::json config = read_json_file(dir / "out" / "config.json");
  REQUIRE(config.contains("quantization_config"));
  const auto saved = SafetensorsCheckpoint::open_dir(dir / "out");
  CHECK(saved.contains("model.layers.0.mlp.experts.3.up_proj.weight"));
  CHECK((saved.load("model.layers.0.mlp.experts.3.up_proj.weight").scalar_type() == at::kChar));

  // vLLM has no int8 MoE method with static activation scales: refused, nothing written.
  test::write_text(dir / "static.yaml", moe_cli_practice(dataset, "compressed_tensors"));
  result = moe_cli_quant(model, dir / "static-out", dir / "static.yaml");
  CHECK_MESSAGE(result.exit_code == 1, result.output);
  CHECK_MESSAGE(result.output.find("vLLM cannot serve on MoE layers") != std::string::npos, result.output);
  CHECK_FALSE(fs::exists(dir / "static-out"));
}

TEST_CASE("moe calibration coverage: an expert no token reaches") {
  test::TempDir dir("moe-coverage");
  const fs::path dataset = write_dataset(dir);
  // A copy: the router bias below changes it.
  const fs::path model = test::copy_dir(test::shared_moe_model("qwen3_moe"), dir / "model");
  // Router bias: expert 3 of layer 0 is never among the top 2 (its logit is 1e4 below the others').
  // vllm-ascend would drop a float router's bias, so the saver writes the reference layout for another
  // runtime.
  add_tensor(model, "model.layers.0.mlp.gate.bias", at::tensor({0.0f, 0.0f, 0.0f, -1e4f}));
  const std::string expert = "model.layers.0.mlp.experts.3.";

  SUBCASE("all_experts_calibration (the default for static scales): real statistics") {
    test::write_text(dir / "on.yaml", moe_cli_practice(dataset, "ascendv1_saver, engine: none"));
    const auto result = moe_cli_quant(model, dir / "on", dir / "on.yaml");
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    CHECK_MESSAGE(result.output.find("model.layers.0: calibration tokens per expert: [") != std::string::npos,
                  result.output);
    CHECK(result.output.find(" 0] (every token also ran through every expert") != std::string::npos);
    const nlohmann::json description = read_json_file(dir / "on" / "quant_model_description.json");
    CHECK(description.value(expert + "up_proj.weight", "") == "W8A8");
    const auto saved = SafetensorsCheckpoint::open_dir(dir / "on");
    for (const char* part : {"gate_proj", "up_proj", "down_proj"}) {
      const double scale = saved.load(expert + part + ".input_scale").item<double>();
      CHECK_MESSAGE((std::isfinite(scale) && scale > 0), part << " " << scale);
    }
    // Every expert's gate/up read the same norm output, all of it: the same range as a routed expert's.
    CHECK(saved.load(expert + "up_proj.input_scale").item<double>() ==
          saved.load("model.layers.0.mlp.experts.0.up_proj.input_scale").item<double>());
  }
  SUBCASE("all_experts_calibration: false: a warning names the expert, which falls back to dynamic") {
    test::write_text(dir / "off.yaml", moe_cli_practice(dataset, "ascendv1_saver, engine: none",
                                                        "\n      all_experts_calibration: false"));
    const auto result = moe_cli_quant(model, dir / "off", dir / "off.yaml");
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    CHECK_MESSAGE(result.output.find("no calibration token reached expert model.layers.0.mlp.experts.3 ") !=
                      std::string::npos,
                  result.output);
    CHECK(result.output.find("model.layers.0: calibration tokens per expert: [") != std::string::npos);
    const nlohmann::json description = read_json_file(dir / "off" / "quant_model_description.json");
    for (const char* part : {"gate_proj", "up_proj", "down_proj"}) {
      CHECK_MESSAGE(description.value(expert + part + ".weight", "") == "W8A8_DYNAMIC", part);
    }
    CHECK(description.value("model.layers.0.mlp.experts.0.up_proj.weight", "") == "W8A8");
    const auto saved = SafetensorsCheckpoint::open_dir(dir / "off");
    CHECK_FALSE(saved.contains(expert + "up_proj.input_scale"));  // no static scale was made up
  }
}

TEST_CASE("moe CLI: tune smoke run (standing_high, builtin evaluator) on a random Mixtral") {
  test::TempDir dir("moe-tune");
  const fs::path dataset = write_dataset(dir);
  const fs::path model = test::shared_moe_model("mixtral");
  const fs::path plan = dir / "plan.yaml";
  test::write_text(plan, R"(strategy:
  type: standing_high
  anti_outlier_strategies: [[]]
  template:
    process:
      - type: linear_quant
        qconfig:
          act:    {scope: per_token,   dtype: int8}
          weight: {scope: per_channel, dtype: int8}
        include: ["*.experts.*"]
      - type: linear_quant
        qconfig:
          act:    {scope: per_tensor,  dtype: int8, symmetric: false}
          weight: {scope: per_channel, dtype: int8}
        include: ["*"]
        exclude: ["*block_sparse_moe.gate", "*.experts.*"]
    save:
      - {type: ascendv1_saver}
    dataset: )" + dataset.string() +
                             R"(
evaluation:
  type: builtin
  datasets:
    - {name: calib, path: )" +
                             dataset.string() + R"(, metrics: [ppl]}
  max_tokens: 32
  demand:
    expectations:
      - {dataset: calib, metric: ppl, relative_tolerance: 0.5}
)");
  const auto result =
      test::run_command(test::modelslim_bin().string() + " tune --model_path " + model.string() +
                        " --save_path " + (dir / "tuned").string() + " --config " + plan.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const nlohmann::json description =
      read_json_file(dir / "tuned" / "quant_model" / "quant_model_description.json");
  CHECK(description.value("model.layers.2.block_sparse_moe.experts.1.w1.weight", "") == "W8A8_DYNAMIC");
  CHECK(description.value("model.layers.2.self_attn.o_proj.weight", "") == "W8A8");
}
