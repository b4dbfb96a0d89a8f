// The reference's apiversion modelslim_v0 practices (as its lab_practice files, written here) run unchanged
// through `modelslim quant` on random qwen2/qwen3 checkpoints, with --model_type and the calibration file
// they name found through MODELSLIM_DATASET_PATH; --print_v1 shows the translation.
#include "support/doctest.hpp"

#include <set>
#include <string>

#include "modelslim/json_file.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// lab_practice/qwen2/qwen2-7b-w8a8.yaml with disable_names for a 3-layer model.
const char* const kQwen2W8A8 = R"(apiversion: modelslim_v0
metadata:
  config_id: qwen2-7b-w8a8
  score: 90
  verified_model_types:
    - Qwen2-7B
  label:
    w_bit: 8
    a_bit: 8
    is_sparse: False
    kv_cache: False
spec:
  calib_cfg:
    w_bit: 8
    a_bit: 8
    mm_tensor: False
    disable_names:
      - 'model.layers.0.mlp.down_proj'
      - 'model.layers.1.mlp.down_proj'
      - 'model.layers.2.mlp.down_proj'
  calib_dataset: boolq.jsonl
  calib_save_params:
    part_file_size: 4
)";

// lab_practice/qwen3/qwen3-14b-dense-w8a8.yaml without pdmix (pdmix_test.cpp), act_method 3 as the
// W8A8 tuning guide recommends.
const char* const kQwen3W8A8 = R"(apiversion: modelslim_v0
metadata:
  config_id: qwen3-14b-dense-w8a8
  score: 90
  verified_model_types:
    - Qwen3-14B
  label:
    w_bit: 8
    a_bit: 8
    is_sparse: False
    kv_cache: False
spec:
  anti_cfg:
    anti_method: m4
  calib_cfg:
    w_bit: 8
    a_bit: 8
    mm_tensor: False
    act_method: 3
  calib_params:
    disable_level: L2
  calib_dataset: mix_calib.jsonl
  calib_save_params:
    part_file_size: 4
)";

fs::path v0_practice_make_model(const test::TempDir& dir, const std::string& flags) {
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / "model";
  const auto made = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                      " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                      " --output " + model.string() + " --seed 7 " + flags);
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  return model;
}

test::CommandResult v0_practice_quant(const fs::path& model, const fs::path& save, const fs::path& practice,
                                      const std::string& model_type) {
  const fs::path calib = test::shared_dir() / "data" / "msmodelslim_lab_calib";
  return test::run_command("MODELSLIM_DATASET_PATH=" + calib.string() + " " + test::modelslim_bin().string() +
                           " quant --model_path " + model.string() + " --save_path " + save.string() +
                           " --config_path " + practice.string() + " --model_type " + model_type +
                           " --max_calib_tokens 32");
}

std::set<std::string> v0_practice_float_linears(const nlohmann::json& description) {
  std::set<std::string> names;
  for (const auto& [key, type] : description.items()) {
    const bool linear = key.find("_proj.weight") != std::string::npos;
    if (linear && type == "FLOAT") names.insert(key.substr(0, key.size() - 7));
  }
  return names;
}

}  // namespace

TEST_CASE("a v0 qwen2 W8A8 practice runs unchanged: static W8A8, disable_names in float") {
  test::TempDir dir("v0-qwen2");
  const fs::path model = v0_practice_make_model(dir, "--set model_type=qwen2 --set num_key_value_heads=1");
  test::write_text(dir / "qwen2-7b-w8a8.yaml", kQwen2W8A8);
  const auto result = v0_practice_quant(model, dir / "out", dir / "qwen2-7b-w8a8.yaml", "Qwen2-7B");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("boolq.jsonl") != std::string::npos);
  const auto description = read_json_file(dir / "out" / "quant_model_description.json");
  CHECK(description["model_quant_type"] == "W8A8");
  CHECK(description["model.layers.1.self_attn.q_proj.weight"] == "W8A8");
  CHECK(v0_practice_float_linears(description) == std::set<std::string>{"model.layers.0.mlp.down_proj",
                                                                        "model.layers.1.mlp.down_proj",
                                                                        "model.layers.2.mlp.down_proj"});
}

TEST_CASE("a v0 qwen3 practice with m4, act_method 3 and disable_level L2 runs; --print_v1 shows it") {
  test::TempDir dir("v0-qwen3");
  const fs::path practice = dir / "qwen3-14b-dense-w8a8.yaml";
  test::write_text(practice, kQwen3W8A8);
  const auto printed = test::run_command(test::modelslim_bin().string() + " quant --config_path " +
                                         practice.string() + " --print_v1");
  REQUIRE_MESSAGE(printed.exit_code == 0, printed.output);
  for (const char* part : {"apiversion: modelslim_v1", "prior:", "type: iter_smooth", "method: hybrid",
                           "disable_level: L2", "dataset: mix_calib.jsonl"}) {
    CHECK_MESSAGE(printed.output.find(part) != std::string::npos, part << " in\n" << printed.output);
  }

  const fs::path model =
      v0_practice_make_model(dir, "--set model_type=qwen3 --set num_key_value_heads=1 --set head_dim=48");
  const auto result = v0_practice_quant(model, dir / "out", practice, "Qwen3-14B");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(result.output.find("range_parm:") != std::string::npos);  // logged per activation quantizer
  CHECK(result.output.find("automatically disabled layer names") != std::string::npos);
  const auto description = read_json_file(dir / "out" / "quant_model_description.json");
  // Two linears by range_parm, plus the fused siblings (q/k/v, gate/up) an engine loads with them.
  const std::set<std::string> floats = v0_practice_float_linears(description);
  CHECK(floats.size() >= 2);
  CHECK(floats.size() <= 6);
  CHECK(description["model_quant_type"] == "W8A8");
}

TEST_CASE("a v0 practice that asks for what is not built is refused naming the key") {
  test::TempDir dir("v0-refused");
  // use_kvcache_quant and use_fa_quant now translate (see practice_v0_test);
  // sparse quantization is still not built.
  std::string sparse = kQwen2W8A8;
  sparse.replace(sparse.find("    mm_tensor: False\n"), 21, "    mm_tensor: False\n    co_sparse: True\n");
  test::write_text(dir / "sparse.yaml", sparse);
  const auto result = test::run_command(test::modelslim_bin().string() + " quant --config_path " +
                                        (dir / "sparse.yaml").string() + " --print_v1");
  CHECK(result.exit_code != 0);
  CHECK_MESSAGE(result.output.find("co_sparse") != std::string::npos, result.output);
  CHECK_MESSAGE(result.output.find("sparse.yaml:17") != std::string::npos, result.output);
}
