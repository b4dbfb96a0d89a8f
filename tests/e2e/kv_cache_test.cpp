// Int8 KV cache (dynamic_cache, the reference's C8) end to end: `modelslim quant` with dynamic_cache writes
// the reference's C8 layout (ascendv1: <attention>.{k,v}_proj.kv_cache_{scale,offset}, type C8,
// kv_cache_type / kv_quant_type); the saved scales equal an independent float64 per-channel min/max of the
// keys (after RoPE) and values over the calibration samples; `modelslim eval` of the saved model runs the
// int8 cache: its logits match an independent float64 forward whose keys and values go through the int8 round
// trip with the saved parameters, and differ from the float model's.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "support/reference_llama.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kLayers = 2;
constexpr std::int64_t kChannels = 2 * 16;  // kv_heads * head_dim

struct Range {
  at::Tensor min, max;                    // float64 [channels]
  void widen(const at::Tensor& states) {  // [kv_heads, T, head_dim]
    const at::Tensor rows = states.permute({1, 0, 2}).reshape({states.size(1), -1});
    const at::Tensor lo = std::get<0>(rows.min(0));
    const at::Tensor hi = std::get<0>(rows.max(0));
    min = min.defined() ? at::minimum(min, lo) : lo;
    max = max.defined() ? at::maximum(max, hi) : hi;
  }
};

// The reference's calculate_qparam for int8, written out in float64.
std::pair<at::Tensor, at::Tensor> expected_params(const Range& range, bool symmetric) {
  const at::Tensor mn = at::clamp_max(range.min, 0.0);
  const at::Tensor mx = at::clamp_min(range.max, 0.0);
  if (symmetric) return {at::maximum(-mn, mx) / 127.0, at::zeros_like(mn)};
  const at::Tensor scale = (mx - mn) / 255.0;
  return {scale, at::round(-mn / scale) - 128.0};
}

// x [kv_heads, T, head_dim] through q = clamp(round(x / s + o), -128, 127), (q - o) · s per channel.
at::Tensor int8_round_trip(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& offset) {
  const at::Tensor s = scale.reshape({x.size(0), 1, x.size(2)});
  const at::Tensor o = offset.reshape({x.size(0), 1, x.size(2)});
  return (at::clamp(at::round(x / s + o), -128.0, 127.0) - o) * s;
}

double kv_cache_rms(const at::Tensor& a, const at::Tensor& b) {
  return std::sqrt((a.to(at::kDouble) - b.to(at::kDouble)).pow(2).mean().item<double>());
}

struct Fixture {
  test::TempDir dir{"kv-cache"};
  fs::path model = dir / "model";
  nlohmann::json config;
  Fixture() {
    const auto result = test::run_command(
        (test::build_dir() / "bin" / "make_random_model").string() + " --config " +
        (test::source_dir() / "data/demo/config.json").string() +
        " --byte-tokenizer --scale 0.05 --set hidden_size=64 --set intermediate_size=128 --set "
        "num_hidden_layers=2 --set num_attention_heads=4 --set num_key_value_heads=2 --set head_dim=16 "
        "--output " +
        model.string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    config = read_json_file(model / "config.json");
    const auto calib = read_text_dataset(test::source_dir() / "data/datasets/kjv_calib.jsonl");
    std::string lines;
    for (std::size_t i = 0; i < 3; ++i)
      lines += nlohmann::json({{"inputs_pretokenized", calib[i].substr(0, 100)}}).dump() + "\n";
    test::write_text(dir / "calib.jsonl", lines);
    const std::string eval = read_text_dataset(test::source_dir() / "data/datasets/kjv_eval.jsonl").front();
    test::write_text(dir / "one.jsonl", nlohmann::json({{"inputs_pretokenized", eval}}).dump() + "\n");
  }
  fs::path quant(const std::string& label, bool symmetric) {
    const fs::path out = dir / ("out-" + label);
    test::write_text(dir / (label + ".yaml"),
                     "apiversion: modelslim_v1\nspec:\n  process:\n    - type: dynamic_cache\n"
                     "      qconfig: {scope: per_channel, dtype: int8, symmetric: " +
                         std::string(symmetric ? "true" : "false") + ", method: minmax}\n" +
                         "  save: [{type: ascendv1_saver}]\n  dataset: " + (dir / "calib.jsonl").string() +
                         "\n");
    const auto result = test::run_command(test::modelslim_bin().string() + " quant --model_path " +
                                          model.string() + " --save_path " + out.string() +
                                          " --config_path " + (dir / (label + ".yaml")).string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    return out;
  }
};

const auto float_tensor_of(const SafetensorsCheckpoint& checkpoint) {
  return [&checkpoint](const std::string& name) { return checkpoint.load(name).to(at::kDouble); };
}

}  // namespace

TEST_CASE("dynamic_cache: the reference's C8 layout, scales from a float64 min/max of K (after RoPE) and V") {
  Fixture f;
  core::PluginRegistry registry;
  registry.load_directory(test::build_dir() / "lib" / "modelslim" / "plugins");
  const auto adapter = registry.load_model(f.model, "");
  const auto samples = tokenize_texts(*adapter, read_text_dataset(f.dir / "calib.jsonl"));
  const auto float_checkpoint = SafetensorsCheckpoint::open_dir(f.model);
  const auto float_tensor = float_tensor_of(float_checkpoint);
  const auto float_linear = [&](const std::string& module, const at::Tensor& x) {
    return at::matmul(x, float_tensor(module + ".weight").t());
  };
  std::map<std::int64_t, Range> keys, values;
  for (const at::Tensor& ids : samples) {
    const std::vector<std::int64_t> list(ids.data_ptr<std::int64_t>(),
                                         ids.data_ptr<std::int64_t>() + ids.numel());
    test::reference_llama_logits(f.config, list, float_tensor, float_linear,
                                 [&](std::int64_t layer, at::Tensor& k, at::Tensor& v) {
                                   keys[layer].widen(k);
                                   values[layer].widen(v);
                                 });
  }

  for (const bool symmetric : {true, false}) {
    CAPTURE(symmetric);
    const fs::path out = f.quant(symmetric ? "sym" : "asym", symmetric);
    const nlohmann::json description = read_json_file(out / "quant_model_description.json");
    CHECK(description.value("kv_cache_type", "") == "C8");
    CHECK(description.value("kv_quant_type", "") == "C8");
    CHECK(description.value("model_quant_type", "") == "FLOAT");  // C8 alone leaves the linears float
    const auto saved = SafetensorsCheckpoint::open_dir(out);
    for (std::int64_t l = 0; l < kLayers; ++l) {
      const std::string attention = "model.layers." + std::to_string(l) + ".self_attn";
      for (const auto& [proj, range] : {std::pair{"k_proj", &keys[l]}, std::pair{"v_proj", &values[l]}}) {
        const std::string scale_name = attention + "." + proj + ".kv_cache_scale";
        const std::string offset_name = attention + "." + proj + ".kv_cache_offset";
        CAPTURE(scale_name);
        CHECK(description.value(scale_name, "") == "C8");
        CHECK(description.value(offset_name, "") == "C8");
        CHECK(saved.info(scale_name).dtype == "F32");
        CHECK(saved.info(scale_name).shape == std::vector<std::int64_t>{kChannels});
        CHECK(saved.info(offset_name).shape == std::vector<std::int64_t>{kChannels});
        const auto [scale, offset] = expected_params(*range, symmetric);
        const double scale_error =
            ((saved.load(scale_name).to(at::kDouble) - scale).abs() / scale).max().item<double>();
        CHECK(scale_error < 1e-5);
        // Offsets are integers; float32 vs float64 may move -min/scale across .5 only at an exact tie.
        CHECK((saved.load(offset_name).to(at::kDouble) - offset).abs().max().item<double>() < 0.5);
      }
    }
  }
}

TEST_CASE(
    "modelslim eval of a C8 model runs the int8 KV cache: logits against an independent float64 forward") {
  Fixture f;
  const fs::path out = f.quant("asym", false);
  const fs::path dump = f.dir / "dump";
  const auto result =
      test::run_command(test::modelslim_bin().string() + " eval --model_path " + f.model.string() +
                        " --quant_path " + out.string() + " --dataset " + (f.dir / "one.jsonl").string() +
                        " --metrics ppl --max_tokens 48 --dump_logits " + dump.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto quantized_dump = SafetensorsFile::open(dump / "quantized.safetensors");
  const at::Tensor dumped_ids = quantized_dump->load("one.0.ids");
  const std::vector<std::int64_t> ids(dumped_ids.data_ptr<std::int64_t>(),
                                      dumped_ids.data_ptr<std::int64_t>() + dumped_ids.numel());
  const at::Tensor deployed = quantized_dump->load("one.0.logits");

  const auto saved = SafetensorsCheckpoint::open_dir(out);
  const auto saved_tensor = float_tensor_of(saved);
  const auto linear = [&](const std::string& module, const at::Tensor& x) {
    return at::matmul(x, saved_tensor(module + ".weight").t());
  };
  const at::Tensor float_reference = test::reference_llama_logits(f.config, ids, saved_tensor, linear);
  const at::Tensor c8_reference = test::reference_llama_logits(
      f.config, ids, saved_tensor, linear, [&](std::int64_t layer, at::Tensor& k, at::Tensor& v) {
        const std::string a = "model.layers." + std::to_string(layer) + ".self_attn.";
        k = int8_round_trip(k, saved_tensor(a + "k_proj.kv_cache_scale"),
                            saved_tensor(a + "k_proj.kv_cache_offset"));
        v = int8_round_trip(v, saved_tensor(a + "v_proj.kv_cache_scale"),
                            saved_tensor(a + "v_proj.kv_cache_offset"));
      });
  const double deployed_vs_reference = kv_cache_rms(deployed, c8_reference);
  const double kv_error = kv_cache_rms(c8_reference, float_reference);
  MESSAGE("rms logit difference deployed-vs-float64 C8 " << deployed_vs_reference << ", C8-vs-float "
                                                         << kv_error);
  CHECK(kv_error > 1e-5);  // the int8 cache visibly changes the logits
  CHECK(deployed_vs_reference < 1e-2 * kv_error);
  // The float model's logits (dump) are the reference's float ones: the difference is the cache's.
  const at::Tensor float_dumped = SafetensorsFile::open(dump / "float.safetensors")->load("one.0.logits");
  CHECK(kv_cache_rms(float_dumped, float_reference) < 1e-2 * kv_error);
}

TEST_CASE("dynamic_cache and kv_smooth on a Qwen3-MoE model: C8 tensors saved, eval runs the int8 cache") {
  test::TempDir dir("kv-cache-moe");
  const fs::path model = dir / "model";
  auto result = test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                                  (test::source_dir() / "data/demo-moe-model/config.json").string() +
                                  " --byte-tokenizer --scale 0.05 --set num_hidden_layers=2 --output " +
                                  model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto calib = read_text_dataset(test::source_dir() / "data/datasets/kjv_calib.jsonl");
  test::write_text(dir / "calib.jsonl",
                   nlohmann::json({{"inputs_pretokenized", calib[0].substr(0, 100)}}).dump() + "\n" +
                       nlohmann::json({{"inputs_pretokenized", calib[1].substr(0, 100)}}).dump() + "\n");
  test::write_text(dir / "one.jsonl",
                   nlohmann::json({{"inputs_pretokenized", calib[2].substr(0, 200)}}).dump() + "\n");
  test::write_text(
      dir / "p.yaml",
      "apiversion: modelslim_v1\nspec:\n  process:\n    - {type: kv_smooth}\n"
      "    - {type: dynamic_cache, qconfig: {scope: per_channel, dtype: int8, symmetric: false}}\n"
      "  save: [{type: ascendv1_saver}]\n  dataset: " +
          (dir / "calib.jsonl").string() + "\n");
  const fs::path out = dir / "out";
  result = test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                             " --save_path " + out.string() + " --config_path " + (dir / "p.yaml").string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const nlohmann::json description = read_json_file(out / "quant_model_description.json");
  CHECK(description.value("kv_cache_type", "") == "C8");
  for (const std::string layer : {"0", "1"}) {
    const std::string a = "model.layers." + layer + ".self_attn.";
    CHECK(description.value(a + "k_proj.kv_cache_scale", "") == "C8");
    CHECK(description.value(a + "v_proj.kv_cache_offset", "") == "C8");
  }
  const fs::path dump = dir / "dump";
  result = test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                             " --quant_path " + out.string() + " --dataset " + (dir / "one.jsonl").string() +
                             " --metrics ppl --max_tokens 32 --dump_logits " + dump.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  // kv_smooth preserves the function, so what separates the saved model from the float one is the cache.
  const at::Tensor quantized = SafetensorsFile::open(dump / "quantized.safetensors")->load("one.0.logits");
  const at::Tensor float_logits = SafetensorsFile::open(dump / "float.safetensors")->load("one.0.logits");
  const double difference = kv_cache_rms(quantized, float_logits);
  MESSAGE("MoE: rms logit difference C8 vs float " << difference);
  CHECK(difference > 1e-5);
  CHECK(difference < 0.05 * std::sqrt(float_logits.to(at::kDouble).pow(2).mean().item<double>()));
}
