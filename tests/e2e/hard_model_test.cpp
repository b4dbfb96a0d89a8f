// The hard demo variant (outliers planted by tools/plant_outliers): the same float function as the plain
// model, W8A8 per-tensor loses clearly on it, and falling back the planted layers restores it — the scenario
// tuning solves.
#include "support/doctest.hpp"

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/tokenizer.hpp"
#include "support/test_support.hpp"

#include <ATen/ATen.h>

using namespace modelslim;
namespace fs = std::filesystem;

namespace {
fs::path data_dir() {
  return test::source_dir() / "data";
}

// Returns {float ppl, quantized ppl} of the hard model on the held-out set.
std::pair<double, double> quantized_ppl(const test::TempDir& dir, const std::string& label,
                                        const std::string& exclude) {
  const std::string config =
      "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig:\n"
      "        act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
      "        weight: {scope: per_channel, dtype: int8, symmetric: true}\n"
      "      exclude: " +
      exclude + "\n";
  test::write_text(dir / (label + ".yaml"), config);
  const fs::path model = data_dir() / "demo-model-hard";
  auto result = test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                                  " --save_path " + (dir / label).string() + " --config_path " +
                                  (dir / (label + ".yaml")).string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  result = test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                             " --quant_path " + (dir / label).string() + " --dataset " +
                             (data_dir() / "datasets/kjv_eval.jsonl").string() +
                             " --metrics ppl --max_tokens 128 --json " + (dir / (label + ".json")).string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  MESSAGE(label << ":\n" << result.output);
  const auto report = read_json_file(dir / (label + ".json"));
  return {report["float"][0]["value"].get<double>(), report["quantized"][0]["value"].get<double>()};
}
}  // namespace

TEST_CASE("planting outliers keeps the float function") {
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const auto plain = registry.load_model(data_dir() / "demo-model", "");
  const auto hard = registry.load_model(data_dir() / "demo-model-hard", "");
  const auto ids =
      plain->tokenizer().encode("And it came to pass, when the king heard the words of the book of the law");
  const at::Tensor input = at::tensor(ids, at::kLong).reshape({1, -1});
  const at::Tensor a = forward_logits(*plain, input);
  const at::Tensor b = forward_logits(*hard, input);
  const double relative = (a - b).abs().max().item<double>() / a.abs().max().item<double>();
  MESSAGE("max |plain - hard| / max |logit| = " << relative);
  CHECK(relative < 1e-4);
  // ...while the planted channels really are outliers: the norm weight carries them.
  const auto planted = read_json_file(data_dir() / "demo-model-hard" / "planted.json");
  CHECK(planted["linears"].size() == 6);
}

TEST_CASE("W8A8 per-tensor loses clearly on the hard model; falling back the planted layers restores it") {
  test::TempDir dir("hard-model");
  const auto planted = read_json_file(data_dir() / "demo-model-hard" / "planted.json");
  std::string exclude = "[";
  for (const auto& linear : planted["linears"]) exclude += (exclude.size() > 1 ? ", " : "") + linear.dump();
  exclude += "]";
  const auto [float_ppl, all] = quantized_ppl(dir, "all", "[]");
  const double fallback = quantized_ppl(dir, "fallback", exclude).second;
  CHECK(all > float_ppl * 1.2);
  CHECK(fallback < float_ppl * 1.05);
}
