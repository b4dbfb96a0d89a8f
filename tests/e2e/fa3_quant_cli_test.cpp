// fa3_quant through the CLI: the ascendv1 layout the reference writes and vllm-ascend reads (fa_q/fa_k/fa_v
// .scale/.offset "FAQuant" [heads, 1], <attn>.quant_type, fa_quant_type "FAKQuant"), `modelslim eval` of the
// saved model (FA3 computed from the saved scales), and the engine refusals, on random llama (GQA) and
// DeepSeek (MLA) checkpoints.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>

#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

constexpr const char* kFa3Text =
    "The quick brown fox jumps over the lazy dog while the river keeps flowing toward the distant sea.";

struct Run {
  test::TempDir dir{"fa3-cli"};
  fs::path model = dir / "model";

  void write_practice(const std::string& process, const std::string& save) const {
    test::write_text(dir / "text.jsonl", nlohmann::json({{"inputs_pretokenized", kFa3Text}}).dump() + "\n");
    test::write_text(dir / "practice.yaml", "apiversion: modelslim_v1\nspec:\n  process:\n" + process +
                                                "  save:\n" + save +
                                                "  dataset: " + (dir / "text.jsonl").string() + "\n");
  }
  test::CommandResult quant(const fs::path& out) const {
    return test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                             " --save_path " + out.string() + " --config_path " +
                             (dir / "practice.yaml").string());
  }
  // `eval --json` ppl of the float model and of `out`.
  std::pair<double, double> eval(const fs::path& out) const {
    const fs::path json = dir / "eval.json";
    const auto result =
        test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                          " --quant_path " + out.string() + " --dataset " + (dir / "text.jsonl").string() +
                          " --metrics ppl --max_tokens 24 --json " + json.string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    const nlohmann::json metrics = read_json_file(json);
    const auto ppl = [&](const char* run) {
      for (const auto& metric : metrics.at(run))
        if (metric["metric"] == "ppl") return metric["value"].get<double>();
      FAIL("no ppl in " << metrics.dump());
      return 0.0;
    };
    return {ppl("float"), ppl("quantized")};
  }
};

constexpr const char* kFa3 = "    - type: fa3_quant\n";
constexpr const char* kSaveNone = "    - {type: ascendv1_saver, engine: none}\n";

}  // namespace

TEST_CASE(
    "llama GQA: fa3_quant writes the reference's FA3 layout and eval computes it from the saved scales") {
  Run run;
  const auto made =
      test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                        (test::shared_dir() / "data" / "fake_llama").string() + " --tokenizer-from " +
                        (test::shared_dir() / "data" / "fake_llama").string() + " --output " +
                        run.model.string() + " --seed 1");
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  const nlohmann::json config = read_json_file(run.model / "config.json");
  const std::int64_t heads = config["num_attention_heads"];
  const std::int64_t kv_heads = config.value("num_key_value_heads", heads);
  const std::int64_t layers = config["num_hidden_layers"];
  run.write_practice(kFa3, kSaveNone);
  const fs::path out = run.dir / "out";
  const auto result = run.quant(out);
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const nlohmann::json description = read_json_file(out / "quant_model_description.json");
  CHECK(description["fa_quant_type"] == "FAKQuant");
  const auto saved = SafetensorsCheckpoint::open_dir(out);
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string attn = "model.layers." + std::to_string(l) + ".self_attn.";
    CHECK(description[attn + "quant_type"] == "INT8");
    const std::vector<std::pair<std::string, std::int64_t>> inputs = {
        {"fa_q", heads}, {"fa_k", kv_heads}, {"fa_v", kv_heads}};
    for (const auto& [input, count] : inputs) {
      const std::string prefix = attn + input;
      CAPTURE(prefix);
      CHECK(description[prefix + ".scale"] == "FAQuant");
      CHECK(description[prefix + ".offset"] == "FAQuant");
      const at::Tensor scale = saved.load(prefix + ".scale");
      const at::Tensor offset = saved.load(prefix + ".offset");
      CHECK(std::string(c10::toString(scale.scalar_type())) == "Float");
      CHECK(scale.sizes() == at::IntArrayRef({count, 1}));
      CHECK(std::string(c10::toString(offset.scalar_type())) == "Char");
      CHECK(offset.sizes() == at::IntArrayRef({count, 1}));
      CHECK(offset.abs().sum().item<std::int64_t>() == 0);
      CHECK(scale.min().item<double>() > 0);
    }
  }
  // The linears stay float: eval's quantized run differs from the float one only by FA3.
  const auto [float_ppl, fa3_ppl] = run.eval(out);
  MESSAGE("float ppl " << float_ppl << ", FA3 ppl " << fa3_ppl);
  CHECK(std::isfinite(fa3_ppl));
  CHECK(fa3_ppl != float_ppl);
  CHECK(std::abs(fa3_ppl / float_ppl - 1) < 0.05);

  // per_token Q, static K/V: the mixed quant_type, no fa_q tensors.
  run.write_practice(
      "    - type: fa3_quant\n      details:\n"
      "        fa_q: {dtype: int8, scope: per_token, symmetric: true, method: minmax}\n"
      "        fa_k: {dtype: int8, scope: per_head, symmetric: true, method: minmax}\n"
      "        fa_v: {dtype: int8, scope: per_head, symmetric: true, method: minmax}\n",
      kSaveNone);
  const fs::path mixed = run.dir / "mixed";
  const auto mixed_run = run.quant(mixed);
  REQUIRE_MESSAGE(mixed_run.exit_code == 0, mixed_run.output);
  const nlohmann::json mixed_description = read_json_file(mixed / "quant_model_description.json");
  CHECK(mixed_description["model.layers.0.self_attn.quant_type"] == "Q_INT8_DYNAMIC_KV_INT8");
  CHECK_FALSE(mixed_description.contains("model.layers.0.self_attn.fa_q.scale"));
  CHECK(mixed_description.contains("model.layers.0.self_attn.fa_k.scale"));
  const auto [float_again, mixed_ppl] = run.eval(mixed);
  CHECK(float_again == float_ppl);
  CHECK(mixed_ppl != fa3_ppl);

  // Engines: vllm-ascend applies FA3 in MLA attention only; compressed-tensors has no int8 form.
  run.write_practice(kFa3, "    - {type: ascendv1_saver}\n");
  const auto ascend = run.quant(run.dir / "refused");
  CHECK(ascend.exit_code != 0);
  CHECK_MESSAGE(ascend.output.find("MLA attention only") != std::string::npos, ascend.output);
  run.write_practice(kFa3, "    - {type: compressed_tensors}\n");
  const auto ct = run.quant(run.dir / "refused");
  CHECK(ct.exit_code != 0);
  CHECK_MESSAGE(ct.output.find("ascendv1_saver") != std::string::npos, ct.output);
  CHECK_FALSE(fs::exists(run.dir / "refused"));
}

TEST_CASE(
    "DeepSeek MLA: fa3_quant with W8A8 linears (kv_b_proj float) saves the FAKQuant layout vllm-ascend "
    "reads") {
  Run run;
  const auto made =
      test::run_command((test::build_dir() / "bin" / "make_random_deepseek").string() +
                        " --style v3 --weights float32 --seed 3 --output " + run.model.string());
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  const nlohmann::json config = read_json_file(run.model / "config.json");
  const std::int64_t heads = config["num_attention_heads"];
  const std::string linears =
      "    - type: linear_quant\n      qconfig:\n"
      "        act: {scope: per_token, dtype: int8, symmetric: true}\n"
      "        weight: {scope: per_channel, dtype: int8}\n"
      "      exclude: ['*kv_b_proj', '*mlp.gate']\n";
  run.write_practice(std::string(kFa3) + linears, "    - {type: ascendv1_saver}\n");
  const fs::path out = run.dir / "out";
  const auto result = run.quant(out);
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const nlohmann::json description = read_json_file(out / "quant_model_description.json");
  CHECK(description["fa_quant_type"] == "FAKQuant");
  CHECK(description["model.layers.0.self_attn.quant_type"] == "INT8");
  const auto saved = SafetensorsCheckpoint::open_dir(out);
  CHECK(saved.load("model.layers.0.self_attn.fa_q.scale").sizes() == at::IntArrayRef({heads, 1}));
  CHECK(saved.load("model.layers.0.self_attn.fa_k.scale").sizes() == at::IntArrayRef({1, 1}));
  CHECK(saved.load("model.layers.0.self_attn.fa_v.scale").sizes() == at::IntArrayRef({1, 1}));
  const auto [float_ppl, quant_ppl] = run.eval(out);
  MESSAGE("deepseek v3: float ppl " << float_ppl << ", W8A8 + FA3 ppl " << quant_ppl);
  CHECK(std::isfinite(quant_ppl));
  CHECK(std::abs(quant_ppl / float_ppl - 1) < 0.1);

  // kv_b_proj quantized: the absorbed form has no float weight to absorb.
  run.write_practice(std::string(kFa3) +
                         "    - type: linear_quant\n      qconfig:\n"
                         "        act: {scope: per_token, dtype: int8, symmetric: true}\n"
                         "        weight: {scope: per_channel, dtype: int8}\n"
                         "      exclude: ['*mlp.gate']\n",
                     "    - {type: ascendv1_saver}\n");
  const auto refused = run.quant(run.dir / "refused");
  CHECK(refused.exit_code != 0);
  CHECK_MESSAGE(refused.output.find("kv_b_proj") != std::string::npos, refused.output);
}
