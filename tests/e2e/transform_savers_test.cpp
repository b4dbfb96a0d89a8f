// The transforms survive saving: a quarot + asymmetric iter_smooth + W8A8 model saved by ascendv1_saver
// evaluates (deployed arithmetic from the saved files, rotated embedding, norm biases) close to the float
// model and carries optional/quarot.safetensors; the compressed_tensors saver writes the HF/vLLM layout.
#include "support/doctest.hpp"

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/calibration_subset.hpp"
#include "support/test_support.hpp"

#include <sstream>

#include <ATen/ATen.h>

using namespace modelslim;
namespace fs = std::filesystem;

namespace {
// Prior-stage cases use the first 16 calibration samples (test::kjv_calibration_subset): their point is the
// equality of two runs over the same data or an error, not the statistics.
test::CommandResult transform_savers_quant(const fs::path& model, const fs::path& out,
                                           const fs::path& config) {
  return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                           " --save_path " + out.string() + " --config_path " + config.string());
}
}  // namespace

TEST_CASE("quarot + asymmetric iter_smooth + W8A8 saved with ascendv1 evaluates close to float") {
  test::TempDir dir("transform-save");
  const fs::path model = test::source_dir() / "data" / "demo-model-hard";
  test::write_text(dir / "c.yaml",
                   "apiversion: modelslim_v1\nspec:\n  process:\n    - {type: quarot}\n"
                   "    - {type: iter_smooth, alpha: 0.5, symmetric: false}\n"
                   "    - type: linear_quant\n      qconfig:\n"
                   "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
                   "        weight: {scope: per_channel, dtype: int8, symmetric: true}\n"
                   "  save: [{type: ascendv1_saver, part_file_size: 0}]\n");
  auto result = transform_savers_quant(model, dir / "out", dir / "c.yaml");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);

  const auto description = read_json_file(dir / "out" / "quant_model_description.json");
  CHECK(description["optional"]["quarot"]["rotation_map"]["global_rotation"] ==
        "optional/quarot.safetensors");
  CHECK(description["is_rot_used"] == true);
  CHECK(description["model.layers.0.input_layernorm.bias"] == "FLOAT");  // the asymmetric shift
  CHECK(read_json_file(dir / "out" / "config.json")["tie_word_embeddings"] == false);
  const auto optional = SafetensorsCheckpoint::open_dir(dir / "out" / "optional");
  const at::Tensor rotation = optional.load("global_rotation").to(at::kDouble);
  CHECK(rotation.sizes() == at::IntArrayRef({192, 192}));
  CHECK(at::allclose(at::matmul(rotation, rotation.t()), at::eye(192, at::kDouble), 0.0, 1e-5));

  result = test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                             " --quant_path " + (dir / "out").string() + " --dataset " +
                             (test::source_dir() / "data/datasets/kjv_eval.jsonl").string() +
                             " --metrics ppl --max_tokens 128 --max_samples 16 --json " +
                             (dir / "eval.json").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  MESSAGE(result.output);
  const auto report = read_json_file(dir / "eval.json");
  const double float_ppl = report["float"][0]["value"].get<double>();
  const double quant_ppl = report["quantized"][0]["value"].get<double>();
  CHECK(quant_ppl < float_ppl * 1.03);  // plain W8A8 on this model: +32%
}

TEST_CASE("compressed_tensors saver: W4A16 per-group with a float lm_head, as vLLM reads it") {
  test::TempDir dir("ct-save");
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  test::write_text(
      dir / "c.yaml",
      "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n"
      "      qconfig: {weight: {scope: per_group, dtype: int4, symmetric: true, ext: {group_size: 32}}}\n"
      "      exclude: ['*.down_proj']\n"
      "  save: [{type: compressed_tensors}]\n");
  const auto made = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                      " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                      " --output " + (dir / "model").string());
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  const auto result = transform_savers_quant(dir / "model", dir / "out", dir / "c.yaml");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto config = read_json_file(dir / "out" / "config.json");
  REQUIRE(config.contains("quantization_config"));
  const auto& q = config["quantization_config"];
  CHECK(q["quant_method"] == "compressed-tensors");
  CHECK(q["format"] == "pack-quantized");
  CHECK(q["quantization_status"] == "compressed");
  CHECK(q["config_groups"]["group_0"]["targets"] == nlohmann::json::array({"Linear"}));
  CHECK(q["config_groups"]["group_0"]["weights"]["num_bits"] == 4);
  CHECK(q["config_groups"]["group_0"]["weights"]["group_size"] == 32);
  CHECK(q["config_groups"]["group_0"]["input_activations"].is_null());
  const auto ignore = q["ignore"].get<std::vector<std::string>>();
  CHECK(std::find(ignore.begin(), ignore.end(), "lm_head") != ignore.end());
  CHECK(std::find(ignore.begin(), ignore.end(), "model.layers.0.mlp.down_proj") != ignore.end());
  CHECK(!fs::exists(dir / "out" / "quant_model_description.json"));
  CHECK(fs::exists(dir / "out" / "tokenizer.json"));
  const auto weights = SafetensorsCheckpoint::open_dir(dir / "out");
  CHECK(weights.contains("model.layers.0.self_attn.q_proj.weight_packed"));
  CHECK(weights.info("model.layers.0.self_attn.q_proj.weight_packed").shape ==
        std::vector<std::int64_t>({128, 16}));
  CHECK(weights.info("model.layers.0.self_attn.q_proj.weight_scale").shape ==
        std::vector<std::int64_t>({128, 4}));
  CHECK(weights.contains("model.layers.0.mlp.down_proj.weight"));  // float, excluded
  CHECK(weights.contains("lm_head.weight"));
}

TEST_CASE("prior stage: quarot as a whole-model pass before W8A8 gives the same artifact as in one stage") {
  test::TempDir dir("prior");
  const fs::path model = test::source_dir() / "data" / "demo-model-hard";
  const std::string w8a8 =
      "    - type: linear_quant\n      exclude: ['*.down_proj']\n      qconfig:\n"
      "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
      "        weight: {scope: per_channel, dtype: int8, symmetric: true}\n"
      "  save: [{type: ascendv1_saver, part_file_size: 0}]\n"
      "  dataset: " +
      test::kjv_calibration_subset(dir.path(), 16).string() + "\n";
  test::write_text(dir / "prior.yaml",
                   "apiversion: modelslim_v1\nspec:\n  prior:\n    - process: [{type: quarot}]\n"
                   "  process:\n" +
                       w8a8);
  test::write_text(dir / "single.yaml",
                   "apiversion: modelslim_v1\nspec:\n  process:\n    - {type: quarot}\n" + w8a8);
  auto result = transform_savers_quant(model, dir / "prior-out", dir / "prior.yaml");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  result = transform_savers_quant(model, dir / "single-out", dir / "single.yaml");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  // The rotation from the prior stage reaches the final saver.
  CHECK(fs::exists(dir / "prior-out" / "optional" / "quarot.safetensors"));
  const auto a = SafetensorsCheckpoint::open_dir(dir / "prior-out");
  const auto b = SafetensorsCheckpoint::open_dir(dir / "single-out");
  REQUIRE(a.names() == b.names());
  // The float32 intermediate checkpoint is exact, so both runs see the same rotated weights and calibration.
  for (const std::string& name : {std::string("model.layers.1.self_attn.q_proj.weight"),
                                  std::string("model.layers.1.self_attn.q_proj.input_scale"),
                                  std::string("model.embed_tokens.weight"), std::string("lm_head.weight")}) {
    CAPTURE(name);
    CHECK(at::allclose(a.load(name).to(at::kDouble), b.load(name).to(at::kDouble), 1e-5, 1e-6));
  }
  // No intermediate checkpoint is left behind.
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().find("prior-0") == std::string::npos);
  }
}

TEST_CASE("prior stage errors name the stage") {
  test::TempDir dir("prior-errors");
  const fs::path model = test::source_dir() / "data" / "demo-model-hard";
  const std::string dataset = "  dataset: " + test::kjv_calibration_subset(dir.path(), 16).string() + "\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"  prior:\n    - {dataset: kjv_calib.jsonl}\n", "spec.prior.0"},
      {"  prior:\n    - {process: [{type: quarot, block_size: 3}]}\n", "spec.prior.0.process.0.block_size"},
      {"  prior:\n    - {process: [], extra: 1}\n", "unknown key 'extra'"},
      {"  prior:\n    - process:\n        - type: linear_quant\n"
       "          qconfig: {weight: {scope: per_channel, dtype: int8}}\n",
       "was quantized in a prior stage"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    test::write_text(dir / "c.yaml", "apiversion: modelslim_v1\nspec:\n" + cases[i].first +
                                         "  process: [{type: quarot}]\n" + dataset);
    const auto result = transform_savers_quant(model, dir / "out", dir / "c.yaml");
    CHECK(result.exit_code != 0);
    CHECK_MESSAGE(result.output.find(cases[i].second) != std::string::npos, result.output);
    CHECK(!fs::exists(dir / "out"));
  }
}

TEST_CASE("W4A8_DYNAMIC saved by ascendv1 evaluates from the packed files; SSZ weights beat min/max") {
  test::TempDir dir("w4a8");
  const fs::path model = test::source_dir() / "data" / "demo-model";
  const auto ppl = [&](const std::string& label, const std::string& method) {
    test::write_text(dir / (label + ".yaml"),
                     "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig:\n"
                     "        act: {scope: per_token, dtype: int8, symmetric: true}\n"
                     "        weight: {scope: per_channel, dtype: int4, symmetric: true, method: " +
                         method +
                         "}\n  save: [{type: ascendv1_saver, engine: none}]\n");  // not vllm-ascend's
    auto result = transform_savers_quant(model, dir / label, dir / (label + ".yaml"));
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    CHECK(read_json_file(dir / label / "quant_model_description.json")["model_quant_type"] == "W4A8_DYNAMIC");
    result = test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                               " --quant_path " + (dir / label).string() + " --dataset " +
                               (test::source_dir() / "data/datasets/kjv_eval.jsonl").string() +
                               " --metrics ppl --max_tokens 128 --max_samples 16 --json " +
                               (dir / (label + ".json")).string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    MESSAGE(label << ":\n" << result.output);
    const auto report = read_json_file(dir / (label + ".json"));
    return std::make_pair(report["float"][0]["value"].get<double>(),
                          report["quantized"][0]["value"].get<double>());
  };
  const auto [float_ppl, minmax] = ppl("minmax", "minmax");
  const double ssz = ppl("ssz", "ssz").second;
  CHECK(minmax < float_ppl * 1.05);
  CHECK(ssz <= minmax);
}

TEST_CASE("W4A16 saved by ascendv1 (per-channel and per-group) evaluates from the packed files") {
  test::TempDir dir("w4a16");
  const fs::path model = test::source_dir() / "data" / "demo-model";
  for (const std::string scope : {"per_channel", "per_group"}) {
    CAPTURE(scope);
    test::write_text(dir / (scope + ".yaml"),
                     "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig:\n"
                     "        weight: {scope: " +
                         scope +
                         ", dtype: int4, symmetric: false, ext: {group_size: 32}}\n"
                         "  save: [{type: ascendv1_saver, engine: none}]\n");  // not vllm-ascend's
    auto result = transform_savers_quant(model, dir / scope, dir / (scope + ".yaml"));
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    CHECK(read_json_file(dir / scope / "quant_model_description.json")["model_quant_type"] == "W4A16");
    result = test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                               " --quant_path " + (dir / scope).string() + " --dataset " +
                               (test::source_dir() / "data/datasets/kjv_eval.jsonl").string() +
                               " --metrics ppl --max_tokens 128 --max_samples 16 --json " +
                               (dir / (scope + ".json")).string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    MESSAGE(scope << ":\n" << result.output);
    const auto report = read_json_file(dir / (scope + ".json"));
    CHECK(report["quantized"][0]["value"].get<double>() < report["float"][0]["value"].get<double>() * 1.05);
  }
}
