// `modelslim eval` and the builtin evaluator. The SAVED artifact evaluated with the deployment arithmetic
// (`eval --dump_logits`) is checked per token against an independent float64 computation from the saved
// integers and scales (decoded here from the documented ascendv1 layouts, run through a float64 Llama forward
// written in tests/support/reference_llama.hpp), for every type the ascendv1 saver writes; and it must sit
// far closer to the in-memory fake-quant forward used during calibration than that one sits to the float
// model. Bad evaluation datasets are clear errors.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>

#include "modelslim/core/pipeline.hpp"
#include "modelslim/core/plugin_registry.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "support/reference_llama.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// A saver that carries one evaluation sequence through each block right after it was quantized, i.e. with the
// fake-quant linears linear_quant installed (the in-memory forward).
class FakeQuantProbe final : public Saver {
 public:
  explicit FakeQuantProbe(BlockInput state) : state_(std::move(state)) {}
  void begin(const SaveContext&) override {}
  void save_block(Block& block) override { state_.hidden = block.forward(state_.hidden, *state_.context); }
  void finish(const std::vector<NamedTensor>&) override {}
  const at::Tensor& hidden() const { return state_.hidden; }

 private:
  BlockInput state_;
};

using modelslim::test::plugin_dir;

struct QuantCase {
  std::string type;     // the ascendv1 type every linear must get
  std::string qconfig;  // linear_quant qconfig body
  // Dense W4A8_DYNAMIC (group_size 0) and W4A16 do not load in vllm-ascend, so the saver refuses them unless
  // told to write the reference's layout anyway (docs/savers.md); the evaluator still runs that layout.
  bool engine_none = false;
};

// One case per type the ascendv1 saver writes (ascend_tensors.cpp ascend_quant_type).
const std::vector<QuantCase> kCases = {
    {"W8A8",
     "act: {scope: per_tensor, dtype: int8, symmetric: false}\n"
     "        weight: {scope: per_channel, dtype: int8, symmetric: true}"},
    {"W8A8_DYNAMIC",
     "act: {scope: per_token, dtype: int8, symmetric: true}\n"
     "        weight: {scope: per_channel, dtype: int8, symmetric: true}"},
    {"W8A16", "weight: {scope: per_channel, dtype: int8, symmetric: true}"},
    {"W4A8_DYNAMIC",
     "act: {scope: per_token, dtype: int8, symmetric: true}\n"
     "        weight: {scope: per_channel, dtype: int4, symmetric: true}",
     true},
    {"W4A16", "weight: {scope: per_group, dtype: int4, symmetric: false, ext: {group_size: 32}}", true},
};

std::string practice(const QuantCase& c, const fs::path& calib) {
  return "apiversion: modelslim_v1\nspec:\n  process:\n    - type: linear_quant\n      qconfig:\n        " +
         c.qconfig + (c.engine_none ? "\n  save: [{type: ascendv1_saver, engine: none}]" : "") +
         "\n  dataset: " + calib.string() + "\n";
}

double rms(const at::Tensor& a, const at::Tensor& b) {
  return std::sqrt((a.to(at::kDouble) - b.to(at::kDouble)).pow(2).mean().item<double>());
}

// ---- independent decoding of the saved ascendv1 tensors (docs/quantization.md, docs/evaluation.md) ----

int signed_nibble(int byte, bool high) {
  const int v = high ? (byte >> 4) & 0xF : byte & 0xF;
  return v >= 8 ? v - 16 : v;
}

// int8 bytes → int4 values: `row_pairs` [out/2, in] (low nibble row 2m, high 2m+1), else column pairs
// [out, in/2] (low nibble column 2k, high 2k+1).
at::Tensor unpack_int4(const at::Tensor& packed, bool row_pairs) {
  const at::Tensor bytes = packed.to(at::kInt).contiguous();
  const auto b = bytes.accessor<int, 2>();
  const std::int64_t rows = bytes.size(0) * (row_pairs ? 2 : 1);
  const std::int64_t cols = bytes.size(1) * (row_pairs ? 1 : 2);
  at::Tensor values = at::empty({rows, cols}, at::kDouble);
  auto v = values.accessor<double, 2>();
  for (std::int64_t r = 0; r < bytes.size(0); ++r) {
    for (std::int64_t c = 0; c < bytes.size(1); ++c) {
      const int byte = b[r][c] & 0xFF;
      if (row_pairs) {
        v[2 * r][c] = signed_nibble(byte, false);
        v[2 * r + 1][c] = signed_nibble(byte, true);
      } else {
        v[r][2 * c] = signed_nibble(byte, false);
        v[r][2 * c + 1] = signed_nibble(byte, true);
      }
    }
  }
  return values;
}

// (q − offset) · scale with scale/offset [out, groups] spread over in / groups columns each.
at::Tensor dequantize(const at::Tensor& q, const at::Tensor& scale, const at::Tensor& offset) {
  const std::int64_t group = q.size(1) / scale.size(1);
  return (q - offset.to(at::kDouble).repeat_interleave(group, 1)) *
         scale.to(at::kDouble).repeat_interleave(group, 1);
}

// fp16/fp32 models store deq_scale as the float32 bit pattern in int64; bf16 ones as float32.
at::Tensor deq_scale_values(const at::Tensor& stored) {
  if (stored.scalar_type() != at::kLong) return stored.to(at::kDouble);
  at::Tensor values = at::empty({stored.numel()}, at::kDouble);
  for (std::int64_t i = 0; i < stored.numel(); ++i) {
    const auto bits = static_cast<std::uint32_t>(stored[i].item<std::int64_t>());
    float value = 0.0f;
    std::memcpy(&value, &bits, sizeof value);
    values[i] = static_cast<double>(value);
  }
  return values;
}

at::Tensor per_token_int8(const at::Tensor& x, at::Tensor& scale) {
  scale = x.abs().amax(-1, true) / 127.0;
  return at::round(x / scale);
}

// The deployed arithmetic of one saved linear, in float64, from its description type and tensors.
at::Tensor deployed_reference(const SafetensorsCheckpoint& saved, const nlohmann::json& description,
                              const std::string& module, const at::Tensor& x) {
  const auto load = [&](const std::string& suffix) { return saved.load(module + "." + suffix); };
  const std::string type = description.at(module + ".weight");
  if (type == "FLOAT") return at::matmul(x, load("weight").to(at::kDouble).t());
  if (type == "W8A8") {
    const double s = load("input_scale").item<double>();
    const double o = load("input_offset").item<double>();
    const at::Tensor xq = at::clamp(at::round(x / s + o), -128, 127);
    return deq_scale_values(load("deq_scale")) *
           (at::matmul(xq, load("weight").to(at::kDouble).t()) + load("quant_bias").to(at::kDouble));
  }
  if (type == "W8A8_DYNAMIC" || type == "W4A8_DYNAMIC") {
    const at::Tensor w =
        type == "W8A8_DYNAMIC" ? load("weight").to(at::kDouble) : unpack_int4(load("weight"), true);
    at::Tensor s;
    const at::Tensor xq = per_token_int8(x, s);
    return at::matmul(xq, w.t()) * s * load("weight_scale").to(at::kDouble).reshape({-1});
  }
  if (type == "W8A16" || type == "W4A16") {
    const at::Tensor scale = load("weight_scale");
    const at::Tensor q = type == "W8A16" ? load("weight").to(at::kDouble)
                                         : unpack_int4(load("weight"), /*row_pairs=*/scale.size(1) > 1);
    return at::matmul(x, dequantize(q, scale, load("weight_offset")).t());
  }
  FAIL("no reference for type " << type << " of " << module);
  return {};
}

}  // namespace

TEST_CASE("deployed arithmetic of every ascendv1 type: per-token logits against independent float64") {
  test::TempDir dir("eval-deployed");
  const fs::path model = dir / "model";
  auto result = test::run_command(
      (test::build_dir() / "bin" / "make_random_model").string() + " --config " +
      (test::source_dir() / "data/demo/config.json").string() +
      " --byte-tokenizer --scale 0.05 --set hidden_size=64 --set intermediate_size=128 --set "
      "num_hidden_layers=2"
      " --set num_attention_heads=4 --set num_key_value_heads=2 --set head_dim=16 --output " +
      model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const nlohmann::json config = read_json_file(model / "config.json");

  // Short calibration and evaluation texts keep the run small (and under any calibration token limit).
  const auto calib_texts = read_text_dataset(test::source_dir() / "data/datasets/kjv_calib.jsonl");
  std::string calib_lines;
  for (std::size_t i = 0; i < 3; ++i)
    calib_lines += nlohmann::json({{"inputs_pretokenized", calib_texts[i].substr(0, 100)}}).dump() + "\n";
  test::write_text(dir / "calib.jsonl", calib_lines);
  const std::string eval_text =
      read_text_dataset(test::source_dir() / "data/datasets/kjv_eval.jsonl").front();
  test::write_text(dir / "one.jsonl", nlohmann::json({{"inputs_pretokenized", eval_text}}).dump() + "\n");

  const auto float_checkpoint = SafetensorsCheckpoint::open_dir(model);
  const auto float_tensor = [&](const std::string& name) {
    return float_checkpoint.load(name).to(at::kDouble);
  };
  const auto float_linear = [&](const std::string& module, const at::Tensor& x) {
    return at::matmul(x, float_tensor(module + ".weight").t());
  };

  bool float_checked = false;
  at::Tensor float_reference;
  std::vector<std::int64_t> ids;
  for (const QuantCase& c : kCases) {
    CAPTURE(c.type);
    const fs::path out = dir / ("out-" + c.type);
    const fs::path dump = dir / ("dump-" + c.type);
    const std::string config_text = practice(c, dir / "calib.jsonl");
    test::write_text(dir / (c.type + ".yaml"), config_text);
    result = test::run_command(test::modelslim_bin().string() + " quant --model_path " + model.string() +
                               " --save_path " + out.string() + " --config_path " +
                               (dir / (c.type + ".yaml")).string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);
    result =
        test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                          " --quant_path " + out.string() + " --dataset " + (dir / "one.jsonl").string() +
                          " --metrics ppl --max_tokens 48 --dump_logits " + dump.string());
    REQUIRE_MESSAGE(result.exit_code == 0, result.output);

    // Every linear carries the case's type (so the comparison below is about that arithmetic).
    const nlohmann::json description = read_json_file(out / "quant_model_description.json");
    int typed = 0;
    for (const auto& [key, type] : description.items()) {
      if (key.size() > 12 && key.compare(key.size() - 12, 12, "_proj.weight") == 0) {
        CHECK(type == c.type);
        ++typed;
      }
    }
    CHECK(typed == 14);

    const auto quantized_dump = SafetensorsFile::open(dump / "quantized.safetensors");
    const at::Tensor dumped_ids = quantized_dump->load("one.0.ids");
    const std::vector<std::int64_t> case_ids(dumped_ids.data_ptr<std::int64_t>(),
                                             dumped_ids.data_ptr<std::int64_t>() + dumped_ids.numel());
    REQUIRE(case_ids.size() == 48);
    if (!float_checked) {
      // The reference forward itself against the adapter's float forward (float32 vs float64).
      ids = case_ids;
      float_reference = test::reference_llama_logits(config, ids, float_tensor, float_linear);
      const at::Tensor float_dumped = SafetensorsFile::open(dump / "float.safetensors")->load("one.0.logits");
      const double error = (float_dumped.to(at::kDouble) - float_reference).abs().max().item<double>() /
                           float_reference.abs().max().item<double>();
      MESSAGE("float: max |adapter - float64 reference| / max |logit| = " << error);
      CHECK(error < 1e-4);
      float_checked = true;
    }
    REQUIRE(case_ids == ids);
    const at::Tensor deployed = quantized_dump->load("one.0.logits");

    // Independent float64 deployed arithmetic from the saved files.
    const auto saved = SafetensorsCheckpoint::open_dir(out);
    const at::Tensor reference = test::reference_llama_logits(
        config, ids, [&](const std::string& name) { return saved.load(name).to(at::kDouble); },
        [&](const std::string& module, const at::Tensor& x) {
          return deployed_reference(saved, description, module, x);
        });

    // The in-memory fake-quant forward, same calibration in process.
    core::PluginRegistry registry;
    registry.load_directory(plugin_dir());
    const auto adapter = registry.load_model(model, "");
    core::Pipeline pipeline;
    const auto parsed = parse_yaml_string(config_text, c.type + ".yaml");
    pipeline.processors.push_back(registry.create_processor(parsed["spec"]["process"].at(0)));
    auto probe =
        std::make_unique<FakeQuantProbe>(adapter->embed(at::tensor(ids, at::kLong).reshape({1, -1})));
    FakeQuantProbe& probe_ref = *probe;
    pipeline.savers.push_back(std::move(probe));
    core::run_pipeline(*adapter, pipeline, tokenize_texts(*adapter, read_text_dataset(dir / "calib.jsonl")),
                       core::RunnerKind::kLayerWise, SaveContext{dir / "unused", model, *adapter}, nullptr);
    const at::Tensor in_memory = adapter->head(probe_ref.hidden()).squeeze(0);

    const double deployed_vs_reference = rms(deployed, reference);
    const double deployed_vs_memory = rms(deployed, in_memory);
    const double quantization_error = rms(in_memory, float_reference);
    MESSAGE(c.type << ": rms logit difference deployed-vs-float64 " << deployed_vs_reference
                   << ", deployed-vs-in-memory " << deployed_vs_memory << ", in-memory-vs-float "
                   << quantization_error << " (ratios " << deployed_vs_reference / quantization_error << ", "
                   << deployed_vs_memory / quantization_error << ")");
    CHECK(quantization_error > 1e-3);  // quantization visibly changes the logits: the ratios mean something
    // Measured ratios 1e-6..3e-5 (float32 activations and sums against float64); 1e-3 leaves room for an
    // activation whose rounding flips at a quantization boundary on another CPU, while any wrong formula, a
    // dropped term or a float fallback lands near 1.
    CHECK(deployed_vs_reference < 1e-3 * quantization_error);
    CHECK(deployed_vs_memory < 1e-3 * quantization_error);
  }
}

TEST_CASE("bad evaluation datasets: missing fields, wrong label index, empty file") {
  test::TempDir dir("eval-bad");
  const fs::path model = dir / "model";
  auto result = test::run_command((test::build_dir() / "bin" / "make_random_model").string() + " --config " +
                                  (test::source_dir() / "data/demo/config.json").string() +
                                  " --byte-tokenizer --set num_hidden_layers=1 --output " + model.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  const auto eval = [&](const std::string& file, const std::string& content, const std::string& metrics) {
    test::write_text(dir / file, content);
    return test::run_command(test::modelslim_bin().string() + " eval --model_path " + model.string() +
                             " --dataset " + (dir / file).string() + " --metrics " + metrics);
  };
  result = eval("missing.jsonl", "{\"inputs_pretokenized\": \"a\", \"label\": 0}\n", "choice_acc");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("missing.jsonl:1: 'choices_pretokenized'") != std::string::npos);
  result = eval("label.jsonl",
                "{\"inputs_pretokenized\": \"a\", \"choices_pretokenized\": [\"b\", \"c\"], \"label\": 2}\n",
                "choice_acc");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("label.jsonl:1: label 2 is not an index into 2 choices") != std::string::npos);
  result = eval("empty.jsonl", "\n", "ppl");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("empty.jsonl: contains no samples") != std::string::npos);
  result = eval("ok.jsonl",
                "{\"inputs_pretokenized\": \"a\", \"choices_pretokenized\": [\"b\", \"c\"], \"label\": 1}\n",
                "choice_acc,perplexity");
  CHECK(result.exit_code == 1);
  CHECK(result.output.find("unknown metric 'perplexity'") != std::string::npos);
}
