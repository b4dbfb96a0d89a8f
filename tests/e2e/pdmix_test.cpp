// v0 `pdmix: True` (as the reference's lab_practice/qwen3/qwen3-14b-dense-w8a8.yaml) runs on a random qwen3
// checkpoint: every quantized linear is saved as W8A8_MIX with the reference's tensors (the W8A8 static set
// plus weight_scale/weight_offset [out, 1]), and `modelslim eval` runs it as vllm-ascend does when prefill
// and decode share an instance: per-token dynamic, so its perplexity equals the is_dynamic (W8A8_DYNAMIC)
// run's.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

std::string pdmix_practice(const std::string& activation_key) {
  return "apiversion: modelslim_v0\nmetadata:\n  config_id: qwen3-14b-dense-w8a8\nspec:\n  calib_cfg:\n"
         "    w_bit: 8\n    a_bit: 8\n    mm_tensor: False\n    " +
         activation_key + ": True\n  calib_dataset: tiny_calib.jsonl\n";
}

// Four calibration passages, found through MODELSLIM_DATASET_PATH as a practice's calib_dataset is.
void write_calibration(const test::TempDir& dir) {
  const std::string all = test::read_text(test::source_dir() / "data" / "datasets" / "kjv_calib.jsonl");
  std::size_t end = 0;
  for (int i = 0; i < 4; ++i) end = all.find('\n', end) + 1;
  test::write_text(dir / "tiny_calib.jsonl", all.substr(0, end));
}

fs::path pdmix_quantize(const test::TempDir& dir, const fs::path& model, const std::string& activation_key) {
  const fs::path file = dir / (activation_key + ".yaml");
  test::write_text(file, pdmix_practice(activation_key));
  const fs::path out = dir / activation_key;
  const auto result = test::run_command("MODELSLIM_DATASET_PATH=" + dir.path().string() + " " +
                                        test::modelslim_bin().string() + " quant --model_path " +
                                        model.string() + " --save_path " + out.string() + " --config_path " +
                                        file.string() + " --model_type Qwen3-14B --max_calib_tokens 32");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  return out;
}

double pdmix_quantized_ppl(const test::TempDir& dir, const fs::path& model, const fs::path& saved) {
  const fs::path json = saved.string() + "-eval.json";
  const auto result =
      test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                        " --quant_path " + saved.string() + " --dataset " +
                        (test::source_dir() / "data" / "datasets" / "kjv_eval.jsonl").string() +
                        " --metrics ppl --max_tokens 32 --max_samples 2 --json " + json.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto report = read_json_file(json);  // kept alive: the loop reads into it
  for (const auto& metric : report["quantized"]) {
    if (metric["metric"] == "ppl") return metric["value"].get<double>();
  }
  FAIL("no quantized ppl in " << json);
  return 0.0;
}

}  // namespace

TEST_CASE("v0 pdmix saves W8A8_MIX as the reference lays it out and evaluates as per-token dynamic") {
  test::TempDir dir("pdmix");
  const fs::path fake = test::shared_dir() / "data" / "fake_llama";
  const fs::path model = dir / "model";
  const auto made =
      test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                        fake.string() + " --tokenizer-from " + fake.string() + " --output " + model.string() +
                        " --seed 11 --set model_type=qwen3 --set num_key_value_heads=1 --set head_dim=48");
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  write_calibration(dir);

  const fs::path mix = pdmix_quantize(dir, model, "pdmix");
  const auto description = read_json_file(mix / "quant_model_description.json");
  CHECK(description["model_quant_type"] == "W8A8_MIX");
  const std::string q = "model.layers.1.self_attn.q_proj";
  for (const char* suffix : {".weight", ".input_scale", ".input_offset", ".quant_bias", ".deq_scale",
                             ".weight_scale", ".weight_offset"}) {
    CHECK_MESSAGE(description[q + suffix] == "W8A8_MIX", q << suffix);
  }
  const SafetensorsCheckpoint saved = SafetensorsCheckpoint::open_dir(mix);
  const at::Tensor weight = saved.load(q + ".weight");
  CHECK((weight.scalar_type() == at::kChar));
  const at::Tensor weight_scale = saved.load(q + ".weight_scale");
  CHECK(weight_scale.dim() == 2);
  CHECK(weight_scale.size(0) == weight.size(0));
  CHECK(weight_scale.size(1) == 1);
  CHECK(saved.load(q + ".weight_offset").eq(0).all().item<bool>());
  CHECK(saved.load(q + ".input_scale").numel() == 1);
  CHECK(saved.load(q + ".input_scale").item<double>() > 0.0);

  const fs::path dynamic = pdmix_quantize(dir, model, "is_dynamic");
  CHECK(read_json_file(dynamic / "quant_model_description.json")["model_quant_type"] == "W8A8_DYNAMIC");
  CHECK(saved.load(q + ".weight").equal(SafetensorsCheckpoint::open_dir(dynamic).load(q + ".weight")));
  CHECK(pdmix_quantized_ppl(dir, model, mix) ==
        doctest::Approx(pdmix_quantized_ppl(dir, model, dynamic)).epsilon(1e-9));
}
