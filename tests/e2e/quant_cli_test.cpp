// `modelslim quant` end to end through the real CLI and plugins on ../shared/data/fake_llama (random weights
// made by make_random_model, its real tokenizer.json, the reference's mix_calib.jsonl calibration set).
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

const char* kW8A8Config = R"(apiversion: modelslim_v1
metadata: {config_id: e2e-w8a8}
spec:
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}
        weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}
      include: ["*"]
  save: [{type: ascendv1_saver, part_file_size: 0}]
  dataset: DATASET
)";

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

fs::path mix_calib() {
  return test::shared_dir() / "data" / "msmodelslim_lab_calib" / "mix_calib.jsonl";
}

// A random-weight copy of fake_llama in HF format.
fs::path quant_cli_make_fake_llama(const test::TempDir& dir, const std::string& extra = "") {
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / "model";
  const auto result = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                        " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                        " --output " + model.string() + " --seed 42 " + extra);
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return model;
}

test::CommandResult quant_cli_quant(const fs::path& model, const fs::path& save, const std::string& flags) {
  return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                           " --save_path " + save.string() + " " + flags);
}

// Deployment arithmetic of an ascendv1 W8A8 linear, from the saved tensors only.
class SavedW8A8Linear final : public LinearCompute {
 public:
  SavedW8A8Linear(const SafetensorsCheckpoint& saved, const std::string& name)
      : weight_(saved.load(name + ".weight").to(at::kDouble)),
        input_scale_(saved.load(name + ".input_scale").item<double>()),
        input_offset_(saved.load(name + ".input_offset").item<double>()),
        deq_scale_(saved.load(name + ".deq_scale").to(at::kInt).view(at::kFloat).to(at::kDouble)),
        quant_bias_(saved.load(name + ".quant_bias").to(at::kDouble)) {}
  at::Tensor forward(const Linear&, const at::Tensor& input) const override {
    const at::Tensor xq =
        at::clamp(at::round(input.to(at::kDouble) / input_scale_ + input_offset_), -128, 127);
    return (deq_scale_ * (at::matmul(xq, weight_.t()) + quant_bias_)).to(at::kFloat);
  }

 private:
  at::Tensor weight_;
  double input_scale_;
  double input_offset_;
  at::Tensor deq_scale_;
  at::Tensor quant_bias_;
};

}  // namespace

TEST_CASE("W8A8 static on fake_llama: layout, int8 weights vs float64, logits vs float") {
  test::TempDir dir("quant-e2e");
  const fs::path model = quant_cli_make_fake_llama(dir);
  test::write_text(dir / "w8a8.yaml", replace_all(kW8A8Config, "DATASET", mix_calib().string()));
  const fs::path save = dir / "out";
  const auto result = quant_cli_quant(model, save, "--config_path " + (dir / "w8a8.yaml").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("block 3/3") != std::string::npos);  // progress
  CHECK(result.output.find("48 calibration samples") != std::string::npos);

  // Layout (reference §7).
  for (const char* file : {"quant_model_description.json", "quant_model_weights.safetensors", "config.json",
                           "tokenizer.json", "tokenizer_config.json", "generation_config.json"}) {
    CHECK_MESSAGE(fs::exists(save / file), file);
  }
  const auto description = read_json_file(save / "quant_model_description.json");
  CHECK(description["version"] == "1.0.0");
  CHECK(description["model_quant_type"] == "W8A8");
  CHECK(description["model.layers.0.self_attn.q_proj.weight"] == "W8A8");
  CHECK(description["model.layers.2.mlp.down_proj.quant_bias"] == "W8A8");
  CHECK(description["model.layers.0.input_layernorm.weight"] == "FLOAT");
  CHECK(description["lm_head.weight"] == "FLOAT");  // outside the decoder blocks: kept float
  CHECK(description["model.embed_tokens.weight"] == "FLOAT");
}

TEST_CASE("int8 weights equal an independent float64 quantization and logits stay close to float") {
  test::TempDir dir("quant-e2e-math");
  const fs::path model = quant_cli_make_fake_llama(dir);
  test::write_text(dir / "w8a8.yaml", replace_all(kW8A8Config, "DATASET", mix_calib().string()));
  const fs::path save = dir / "out";
  const auto result = quant_cli_quant(model, save, "--config_path " + (dir / "w8a8.yaml").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);

  const auto original = SafetensorsCheckpoint::open_dir(model);
  const auto saved = SafetensorsCheckpoint::open_dir(save);
  const auto description = read_json_file(save / "quant_model_description.json");
  std::size_t checked = 0;
  std::int64_t mismatches = 0;
  for (const auto& [key, type] : description.items()) {
    if (type != "W8A8" || key.size() < 7 || key.compare(key.size() - 7, 7, ".weight") != 0) continue;
    const at::Tensor w = original.load(key).to(at::kDouble);
    const at::Tensor scale = at::clamp_min(std::get<0>(w.abs().max(1, true)) / 127.0, 1.1920929e-07);
    const at::Tensor expected = at::clamp(at::round(w / scale), -128, 127);
    const at::Tensor actual = saved.load(key);
    CHECK((actual.scalar_type() == at::kChar));
    mismatches += (actual.to(at::kDouble) != expected).sum().item<std::int64_t>();
    ++checked;
  }
  CHECK(checked == 3 * 7);
  CHECK(mismatches == 0);

  // Logits of the deployed arithmetic (saved integers only) vs the float model on held-in text.
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const auto hf_config = read_json_file(model / "config.json");
  auto adapter =
      registry.create_model_adapter(registry.select_model_adapter("", hf_config),
                                    ModelLoadRequest{model, hf_config, "llama", at::kCPU, false, {}});
  const std::vector<std::int64_t> ids =
      adapter->tokenizer().encode("THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG");
  const at::Tensor input_ids = at::tensor(ids, at::kLong).reshape({1, -1});
  const at::Tensor float_logits = forward_logits(*adapter, input_ids);
  BlockInput state = adapter->embed(input_ids);
  for (std::size_t i = 0; i < adapter->num_blocks(); ++i) {
    auto block = adapter->load_block(i);
    for (Linear* linear : block->linears())
      linear->set_compute(std::make_shared<SavedW8A8Linear>(saved, linear->name()));
    state.hidden = block->forward(state.hidden, *state.context);
  }
  const at::Tensor quant_logits = adapter->head(state.hidden);
  const double relative =
      (quant_logits - float_logits).norm().item<double>() / float_logits.norm().item<double>();
  MESSAGE("W8A8 logits relative error vs float: " << relative);
  CHECK(relative < 0.05);
  CHECK(relative > 0.0);  // the arithmetic really is quantized
}

TEST_CASE("--quant_type w8a16 uses the shipped practice; W8A8_DYNAMIC with sharded output") {
  test::TempDir dir("quant-e2e-types");
  const fs::path model = quant_cli_make_fake_llama(dir);
  auto result = quant_cli_quant(model, dir / "w8a16", "--quant_type w8a16 --model_type Llama-2-7b");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  auto description = read_json_file(dir / "w8a16" / "quant_model_description.json");
  CHECK(description["model_quant_type"] == "W8A16");
  CHECK(fs::exists(dir / "w8a16" / "Llama-2-7b_best_practice.yaml"));
  const auto w8a16 = SafetensorsCheckpoint::open_dir(dir / "w8a16");
  CHECK(w8a16.info("model.layers.1.mlp.up_proj.weight_scale").shape == std::vector<std::int64_t>{256, 1});

  test::write_text(dir / "dynamic.yaml", R"(apiversion: modelslim_v1
spec:
  process:
    - type: linear_quant
      qconfig:
        act: {scope: per_token, dtype: int8, symmetric: true}
        weight: {scope: per_channel, dtype: int8, symmetric: true}
      exclude: ["*down_proj"]
  save: [{type: ascendv1_saver, part_file_size: 0.0002}]
)");
  result = quant_cli_quant(model, dir / "dynamic", "--config_path " + (dir / "dynamic.yaml").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("0 calibration samples") != std::string::npos);  // data-free: no calibration
  description = read_json_file(dir / "dynamic" / "quant_model_description.json");
  CHECK(description["model_quant_type"] == "W8A8_DYNAMIC");
  CHECK(description["model.layers.0.mlp.down_proj.weight"] == "FLOAT");
  const auto index = read_json_file(dir / "dynamic" / "quant_model_weights.safetensors.index.json");
  std::set<std::string> shards;
  for (const auto& [key, shard] : index["weight_map"].items()) shards.insert(shard.get<std::string>());
  CHECK(shards.size() > 2);  // 0.0002 GiB ≈ 215 KB per shard, about 800 KB in all
  const auto saved = SafetensorsCheckpoint::open_dir(dir / "dynamic");
  CHECK(saved.names().size() == index["weight_map"].size());
  CHECK(saved.info("model.layers.2.self_attn.o_proj.weight_offset").shape ==
        std::vector<std::int64_t>{128, 1});
}

TEST_CASE("group: static W8A8 attention and dynamic MLP in one shared calibration forward") {
  test::TempDir dir("quant-e2e-group");
  const fs::path model = quant_cli_make_fake_llama(dir);
  test::write_text(dir / "group.yaml", replace_all(R"(apiversion: modelslim_v1
spec:
  process:
    - type: group
      configs:
        - type: linear_quant
          qconfig:
            act: {scope: per_tensor, dtype: int8, symmetric: false}
            weight: {scope: per_channel, dtype: int8, symmetric: true}
          include: ["*self_attn*"]
        - type: linear_quant
          qconfig:
            act: {scope: per_token, dtype: int8, symmetric: true}
            weight: {scope: per_channel, dtype: int8, symmetric: true}
          include: ["*mlp*"]
  dataset: DATASET
)",
                                                   "DATASET", mix_calib().string()));
  const auto result = quant_cli_quant(model, dir / "out", "--config_path " + (dir / "group.yaml").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("48 calibration samples, 144 block forwards") !=
        std::string::npos);  // 3 blocks × 48
  const auto description = read_json_file(dir / "out" / "quant_model_description.json");
  CHECK(description["model.layers.1.self_attn.o_proj.weight"] == "W8A8");
  CHECK(description["model.layers.1.mlp.gate_proj.weight"] == "W8A8_DYNAMIC");
  CHECK(description["model_quant_type"] == "W8A8");
}
