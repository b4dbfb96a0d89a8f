// `modelslim quant` with `save: [{type: compressed_tensors}]` on a random-weight fake_llama: W8A8 dynamic
// gives the Hugging Face / vLLM compressed-tensors layout (int8 weights, [out, 1] scales, a
// quantization_config in config.json, HF shard names and index), and a form without a layout fails with no
// output directory left behind.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <set>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {
fs::path make_fake_llama(const test::TempDir& dir) {
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / "model";
  const auto result = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                        " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                        " --output " + model.string() + " --seed 7");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return model;
}

test::CommandResult quant(const fs::path& model, const fs::path& out, const fs::path& config) {
  return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                           " --save_path " + out.string() + " --config_path " + config.string());
}

std::string config_yaml(const std::string& qconfig, const std::string& save) {
  return "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig: " + qconfig +
         "\n      exclude: ['*down_proj']\n  save: [" + save + "]\n";
}
}  // namespace

TEST_CASE("compressed_tensors: W8A8 dynamic on a random llama, sharded, as vLLM's W8A8Int8 scheme reads it") {
  test::TempDir dir("ct-e2e");
  const fs::path model = make_fake_llama(dir);
  test::write_text(dir / "c.yaml", config_yaml("{act: {scope: per_token, dtype: int8, symmetric: true}, "
                                               "weight: {scope: per_channel, dtype: int8, symmetric: true}}",
                                               "{type: compressed_tensors, part_file_size: 0.0002}"));
  const auto result = quant(model, dir / "out", dir / "c.yaml");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const fs::path out = dir / "out";

  // Files: HF shard names + index, the source's non-weight files, no ascendv1 description.
  const auto index = read_json_file(out / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (const auto& [name, shard] : index["weight_map"].items()) shards.insert(shard.get<std::string>());
  CHECK(shards.size() > 2);  // 0.0002 GiB ≈ 215 KB per shard
  const std::string count = std::to_string(shards.size());
  CHECK(shards.count("model-00001-of-0000" + count + ".safetensors") == 1);
  for (const auto& shard : shards) CHECK(fs::exists(out / shard));
  for (const char* file : {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                           "special_tokens_map.json", "config.json"}) {
    CHECK_MESSAGE(fs::exists(out / file), file);
  }
  CHECK(!fs::exists(out / "quant_model_description.json"));
  CHECK(!fs::exists(out / "model.safetensors"));

  // config.json: the source's fields plus quantization_config.
  const auto config = read_json_file(out / "config.json");
  CHECK(config["model_type"] == "llama");
  CHECK(config["num_hidden_layers"] == 3);
  const auto& qc = config["quantization_config"];
  CHECK(qc["quant_method"] == "compressed-tensors");
  CHECK(qc["format"] == "int-quantized");
  CHECK(qc["quantization_status"] == "compressed");
  REQUIRE(qc["config_groups"].size() == 1);
  const auto& group = qc["config_groups"]["group_0"];
  CHECK(group["targets"] == nlohmann::json::array({"Linear"}));
  CHECK(group["weights"]["num_bits"] == 8);
  CHECK(group["weights"]["type"] == "int");
  CHECK(group["weights"]["symmetric"] == true);
  CHECK(group["weights"]["strategy"] == "channel");
  CHECK(group["weights"]["dynamic"] == false);
  CHECK(group["input_activations"]["num_bits"] == 8);
  CHECK(group["input_activations"]["strategy"] == "token");
  CHECK(group["input_activations"]["dynamic"] == true);
  CHECK(group["input_activations"]["symmetric"] == true);
  CHECK(qc["ignore"] == nlohmann::json::array({"model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj",
                                               "model.layers.2.mlp.down_proj", "lm_head"}));

  // Tensors: int8 weights with [out, 1] float32 scales that dequantize close to the source weights;
  // excluded linears, norms, embedding and lm_head unchanged in the checkpoint dtype.
  const auto saved = SafetensorsCheckpoint::open_dir(out);
  const auto source = SafetensorsCheckpoint::open_dir(model);
  for (const std::string layer : {"0", "2"}) {
    for (const std::string proj : {"self_attn.q_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj"}) {
      const std::string name = "model.layers." + layer + "." + proj;
      CAPTURE(name);
      REQUIRE(saved.info(name + ".weight").dtype == "I8");
      CHECK(saved.info(name + ".weight_scale").dtype == "F32");
      const at::Tensor scale = saved.load(name + ".weight_scale").to(at::kDouble);
      CHECK(scale.sizes() == at::IntArrayRef({saved.info(name + ".weight").shape[0], 1}));
      CHECK(!saved.contains(name + ".input_scale"));  // dynamic: nothing stored for activations
      const at::Tensor dequant = saved.load(name + ".weight").to(at::kDouble) * scale;
      const at::Tensor original = source.load(name + ".weight").to(at::kDouble);
      CHECK((dequant - original).abs().le(scale * 0.5 + 1e-7).all().item<bool>());
    }
  }
  for (const std::string name :
       {"model.layers.1.mlp.down_proj.weight", "model.layers.1.input_layernorm.weight",
        "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"}) {
    CAPTURE(name);
    CHECK(saved.info(name).dtype == source.info(name).dtype);
    CHECK(at::equal(saved.load(name), source.load(name)));
  }
}

TEST_CASE("compressed_tensors: a form without a layout is refused before any work; no output is left") {
  test::TempDir dir("ct-e2e-refused");
  const fs::path model = make_fake_llama(dir);
  test::write_text(dir / "c.yaml",
                   config_yaml("{weight: {scope: per_channel, dtype: int8, symmetric: false}}",
                               "{type: compressed_tensors}"));
  const auto result = quant(model, dir / "out", dir / "c.yaml");
  CHECK(result.exit_code != 0);
  // Refused from the practice (the saver's PracticeCheck), before a block is processed.
  CHECK_MESSAGE(
      result.output.find("compressed_tensors saver: spec.process.0 (linear_quant): asymmetric "
                         "weight-only quantization has no compressed-tensors layout") != std::string::npos,
      result.output);
  CHECK(result.output.find("[quant] block") == std::string::npos);
  CHECK(!fs::exists(dir / "out"));
}
