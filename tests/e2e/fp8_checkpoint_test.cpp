// FP8 checkpoints through the CLI: a Llama checkpoint whose linears are F8_E4M3 codes with 32x32 block scales
// (weight_scale_inv, partial edge blocks) must evaluate to the same logits as the float32 checkpoint holding
// the dequantized weights, computed here from the codes' bit fields; a NaN code is refused naming the tensor.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <set>

#include "modelslim/fp8.hpp"
#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kBlock = 32;

double code_value(std::uint8_t code) {  // e4m3fn from its bit fields
  const int exponent = (code >> 3) & 15;
  const int mantissa = code & 7;
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa / 8.0, -6) : std::ldexp(1 + mantissa / 8.0, exponent - 7);
  return (code & 0x80) != 0 ? -magnitude : magnitude;
}

bool is_linear(const std::string& name) {
  return name.size() > 12 && name.compare(name.size() - 12, 12, "_proj.weight") == 0;
}

// Writes `fp8_dir` (linears as F8_E4M3 + weight_scale_inv) and `float_dir` (the same linears dequantized).
void convert(const fs::path& source, const fs::path& fp8_dir, const fs::path& float_dir, bool poison) {
  const auto checkpoint = SafetensorsCheckpoint::open_dir(source);
  std::vector<std::pair<std::string, at::Tensor>> fp8_tensors, float_tensors;
  std::set<std::string> fp8_names;
  for (const std::string& name : checkpoint.names()) {
    const at::Tensor tensor = checkpoint.load(name).to(at::kFloat).contiguous();
    if (!is_linear(name)) {
      fp8_tensors.emplace_back(name, tensor);
      float_tensors.emplace_back(name, tensor);
      continue;
    }
    const std::int64_t rows = tensor.size(0), cols = tensor.size(1);
    at::Tensor scales = at::empty({(rows + kBlock - 1) / kBlock, (cols + kBlock - 1) / kBlock});
    at::Tensor codes = at::empty({rows, cols}, at::kByte);
    at::Tensor dequantized = at::empty({rows, cols});
    for (std::int64_t br = 0; br < scales.size(0); ++br) {
      for (std::int64_t bc = 0; bc < scales.size(1); ++bc) {
        const at::Tensor part =
            tensor.slice(0, br * kBlock, (br + 1) * kBlock).slice(1, bc * kBlock, (bc + 1) * kBlock);
        scales[br][bc] = part.abs().max().item<float>() / 448.0f;
      }
    }
    const auto weight = tensor.accessor<float, 2>();
    const auto scale = scales.accessor<float, 2>();
    auto code = codes.accessor<std::uint8_t, 2>();
    auto value = dequantized.accessor<float, 2>();
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        const float s = scale[r / kBlock][c / kBlock];
        code[r][c] = encode_e4m3fn(weight[r][c] / s);
        value[r][c] = static_cast<float>(code_value(code[r][c]) * s);
      }
    }
    if (poison && name == "model.layers.1.mlp.up_proj.weight") codes[2][3] = 0x7F;
    fp8_tensors.emplace_back(name, codes);
    fp8_tensors.emplace_back(name + "_scale_inv", scales);
    fp8_names.insert(name);
    float_tensors.emplace_back(name, dequantized);
  }
  for (const fs::path& dir : {fp8_dir, float_dir}) {
    fs::create_directories(dir);
    for (const char* file : {"tokenizer.json", "generation_config.json"})
      fs::copy_file(source / file, dir / file);
  }
  nlohmann::json config = read_json_file(source / "config.json");
  write_json_file_atomic(float_dir / "config.json", config);
  config["quantization_config"] = {
      {"quant_method", "fp8"}, {"fmt", "e4m3"}, {"weight_block_size", {kBlock, kBlock}}};
  write_json_file_atomic(fp8_dir / "config.json", config);
  save_safetensors(fp8_dir / "model.safetensors", fp8_tensors);
  retype_as_fp8_e4m3(fp8_dir / "model.safetensors", fp8_names);
  save_safetensors(float_dir / "model.safetensors", float_tensors);
}

test::CommandResult eval(const fs::path& model, const fs::path& dataset, const fs::path& dump) {
  return test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                           " --dataset " + dataset.string() +
                           " --metrics ppl --max_tokens 24 --dump_logits " + dump.string());
}

}  // namespace

TEST_CASE("an FP8 llama checkpoint evaluates as its dequantized float32 twin; NaN codes are refused") {
  const test::TempDir dir("fp8-llama");
  const fs::path source = dir / "source";
  auto result =
      test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                        (test::source_dir() / "data/demo/config.json").string() +
                        " --byte-tokenizer --scale 0.05 --set hidden_size=80 --set intermediate_size=144"
                        " --set num_hidden_layers=2 --set num_attention_heads=4 --set "
                        "num_key_value_heads=2 --set head_dim=20 --output " +
                        source.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  convert(source, dir / "fp8", dir / "float", false);
  test::write_text(dir / "text.jsonl", R"({"inputs_pretokenized": "In the beginning God created the heaven"})"
                                       "\n");

  result = eval(dir / "fp8", dir / "text.jsonl", dir / "dump-fp8");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  result = eval(dir / "float", dir / "text.jsonl", dir / "dump-float");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const at::Tensor fp8 = SafetensorsFile::open(dir / "dump-fp8" / "float.safetensors")->load("text.0.logits");
  const at::Tensor twin =
      SafetensorsFile::open(dir / "dump-float" / "float.safetensors")->load("text.0.logits");
  const double error = (fp8 - twin).abs().max().item<double>() / twin.abs().max().item<double>();
  MESSAGE("max |fp8 - dequantized twin| / max |logit| = " << error);
  CHECK(error < 1e-5);

  convert(source, dir / "poisoned", dir / "unused", true);
  result = eval(dir / "poisoned", dir / "text.jsonl", dir / "dump-poisoned");
  CHECK(result.exit_code != 0);
  CHECK_MESSAGE(result.output.find("tensor 'model.layers.1.mlp.up_proj.weight' holds nan at [2, 3]") !=
                    std::string::npos,
                result.output);
}
