// compressed-tensors layout: packed int32 words decode (by an independent bit-by-bit unpacking) to the
// quantized integers; scales, zero points and QuantizationArgs follow the documented format; forms without
// a layout are refused naming the module. The whole saver, run over a block into a directory and read back,
// gives weights that dequantize (in float64, from the saved tensors only) to the QuantizedLinear's.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <set>

#include "compressed_tensors_layout.hpp"
#include "compressed_tensors_saver.hpp"
#include "linear_quant_processor.hpp"
#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "support/saver_rules_support.hpp"
#include "support/test_support.hpp"
#include "support/toy_block.hpp"

using namespace modelslim;

namespace {
void ct_quantize_block(test::ToyBlock& block, const std::string& qconfig) {
  const std::string yaml = "process:\n  - type: linear_quant\n    qconfig: " + qconfig + "\n";
  linear_quant::LinearQuantProcessor processor(parse_yaml_string(yaml, "t.yaml")["process"].at(0));
  at::manual_seed(5);
  const auto context = std::make_shared<test::ToyContext>();
  std::vector<BlockInput> inputs = {{at::randn({1, 6, 16}) * 2.0 + 0.5, context}};
  BlockRequest request{block.name(), block, inputs, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
}

at::Tensor compressed_tensors_saver_find(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                                         const std::string& key) {
  for (const auto& [name, tensor] : tensors) {
    if (name == key) return tensor;
  }
  FAIL("missing " << key);
  return {};
}

// Independent decoding: word w of a row holds elements [w·n, (w+1)·n), element i in bits [i·b, (i+1)·b),
// stored as unsigned value + 2^(b−1).
std::vector<std::int64_t> unpack_row(const at::Tensor& words, int bits) {
  std::vector<std::int64_t> values;
  const std::int64_t per_word = 32 / bits;
  const std::uint32_t mask = (1U << bits) - 1U;
  for (std::int64_t w = 0; w < words.size(0); ++w) {
    const auto word = static_cast<std::uint32_t>(words[w].item<std::int32_t>());
    for (std::int64_t i = 0; i < per_word; ++i) {
      values.push_back(static_cast<std::int64_t>((word >> (i * bits)) & mask) - (1 << (bits - 1)));
    }
  }
  return values;
}
}  // namespace

TEST_CASE("pack_to_int32 matches a hand-packed word") {
  // Elements 0..7 = -8, -1, 0, 1, 7, 3, -4, 2 → codes 0, 7, 8, 9, 15, 11, 4, 10 (nibble i at bits 4i).
  const at::Tensor values = at::tensor({-8, -1, 0, 1, 7, 3, -4, 2}, at::kChar).reshape({1, 8});
  const std::uint32_t expected =
      0x0U | (7U << 4) | (8U << 8) | (9U << 12) | (15U << 16) | (11U << 20) | (4U << 24) | (10U << 28);
  const at::Tensor packed = compressed_tensors::pack_to_int32(values, 4);
  CHECK((packed.scalar_type() == at::kInt));
  CHECK(static_cast<std::uint32_t>(packed[0][0].item<std::int32_t>()) == expected);
}

TEST_CASE("W4A16 per-group: packed weights decode to the quantized integers") {
  test::ToyBlock block("model.layers.0", 16, 24, 3);
  ct_quantize_block(block,
                    "{weight: {scope: per_group, dtype: int4, symmetric: true, ext: {group_size: 8}}}");
  const QuantizedLinear& q = *block.down().quantized();
  const std::string p = "model.layers.0.mlp.down_proj";
  const auto tensors = compressed_tensors::quantized_tensors(q, p, at::kBFloat16);
  const at::Tensor packed = compressed_tensors_saver_find(tensors, p + ".weight_packed");
  CHECK(packed.sizes() == at::IntArrayRef({16, 3}));  // 24 int4 per row → 3 words
  for (std::int64_t row = 0; row < 16; ++row) {
    const auto values = unpack_row(packed[row], 4);
    for (std::int64_t col = 0; col < 24; ++col)
      CHECK(values[col] == q.qweight[row][col].item<std::int64_t>());
  }
  CHECK(q.qweight.min().item<std::int64_t>() >= -8);
  CHECK(q.qweight.max().item<std::int64_t>() <= 7);
  CHECK(compressed_tensors_saver_find(tensors, p + ".weight_scale").sizes() == at::IntArrayRef({16, 3}));
  CHECK(at::equal(compressed_tensors_saver_find(tensors, p + ".weight_shape"),
                  at::tensor({16, 24}, at::TensorOptions().dtype(at::kLong))));
  const auto scheme = compressed_tensors::scheme_of(q, p);
  CHECK(scheme.format == "pack-quantized");
  CHECK(scheme.weights["num_bits"] == 4);
  CHECK(scheme.weights["strategy"] == "group");
  CHECK(scheme.weights["group_size"] == 8);
  CHECK(scheme.activations.is_null());
}

TEST_CASE("W8A16 per-channel packs 4 values per word") {
  test::ToyBlock block("model.layers.0", 16, 24, 4);
  ct_quantize_block(block, "{weight: {scope: per_channel, dtype: int8, symmetric: true}}");
  const QuantizedLinear& q = *block.up().quantized();
  const std::string p = "model.layers.0.mlp.up_proj";
  const auto tensors = compressed_tensors::quantized_tensors(q, p, at::kFloat);
  const at::Tensor packed = compressed_tensors_saver_find(tensors, p + ".weight_packed");
  CHECK(packed.sizes() == at::IntArrayRef({24, 4}));
  for (std::int64_t row = 0; row < 24; ++row) {
    const auto values = unpack_row(packed[row], 8);
    for (std::int64_t col = 0; col < 16; ++col)
      CHECK(values[col] == q.qweight[row][col].item<std::int64_t>());
  }
  CHECK(compressed_tensors_saver_find(tensors, p + ".weight_scale").sizes() == at::IntArrayRef({24, 1}));
  CHECK(compressed_tensors_saver_find(tensors, p + ".bias").sizes() == at::IntArrayRef({24}));
  CHECK(compressed_tensors::scheme_of(q, p).weights["strategy"] == "channel");
}

TEST_CASE("W8A8 static asymmetric: int8 weight, input scale and zero point reproduce the fake quantizer") {
  test::ToyBlock block("model.layers.0", 16, 24, 5);
  ct_quantize_block(block,
                    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, "
                    "weight: {scope: per_channel, dtype: int8, symmetric: true}}");
  const QuantizedLinear& q = *block.up().quantized();
  const std::string p = "model.layers.0.mlp.up_proj";
  const auto tensors = compressed_tensors::quantized_tensors(q, p, at::kFloat);
  CHECK(at::equal(compressed_tensors_saver_find(tensors, p + ".weight"), q.qweight.to(at::kChar)));
  const at::Tensor zero_point = compressed_tensors_saver_find(tensors, p + ".input_zero_point");
  CHECK((zero_point.scalar_type() == at::kChar));
  // Dequantize one value the compressed-tensors way, (q − zp)·scale, and compare with our convention.
  const double scale = compressed_tensors_saver_find(tensors, p + ".input_scale").item<double>();
  const double zp = zero_point.item<double>();
  const double x = 0.37;
  const double code = std::min(127.0, std::max(-128.0, std::nearbyint(x / scale) + zp));
  const double ours = std::min(127.0, std::max(-128.0, std::nearbyint(x / q.input_scale.item<double>() +
                                                                      q.input_offset.item<double>())));
  CHECK(code == ours);
  const auto scheme = compressed_tensors::scheme_of(q, p);
  CHECK(scheme.format == "int-quantized");
  CHECK(scheme.activations["strategy"] == "tensor");
  CHECK(scheme.activations["dynamic"] == false);
  CHECK(scheme.activations["symmetric"] == false);
}

TEST_CASE("W8A8 dynamic: per-token dynamic activations, nothing stored for them") {
  test::ToyBlock block("model.layers.0", 16, 24, 6);
  ct_quantize_block(block,
                    "{act: {scope: per_token, dtype: int8, symmetric: true}, "
                    "weight: {scope: per_channel, dtype: int8, symmetric: true}}");
  const QuantizedLinear& q = *block.down().quantized();
  const auto tensors = compressed_tensors::quantized_tensors(q, "d", at::kFloat);
  CHECK(tensors.size() == 2);  // weight, weight_scale
  const auto scheme = compressed_tensors::scheme_of(q, "d");
  CHECK(scheme.activations["strategy"] == "token");
  CHECK(scheme.activations["dynamic"] == true);
}

TEST_CASE("forms without a layout are refused naming the module") {
  test::ToyBlock block("model.layers.0", 16, 24, 7);
  ct_quantize_block(block, "{weight: {scope: per_channel, dtype: int8, symmetric: false}}");
  CHECK_THROWS_WITH_AS(compressed_tensors::scheme_of(*block.up().quantized(), "model.layers.0.mlp.up_proj"),
                       doctest::Contains("model.layers.0.mlp.up_proj: asymmetric"), Error);
}

TEST_CASE("saver config errors name the field") {
  const auto config = parse_yaml_string(
      "save:\n  - {type: compressed_tensors, part_file_size: -1}\n  - {type: compressed_tensors, format: x}\n"
      "  - {type: compressed_tensors, part_file_size: big}\n",
      "s.yaml");
  CHECK_THROWS_WITH_AS(compressed_tensors::CompressedTensorsSaver(config["save"].at(0)),
                       doctest::Contains("save.0.part_file_size"), Error);
  CHECK_THROWS_WITH_AS(compressed_tensors::CompressedTensorsSaver(config["save"].at(1)),
                       doctest::Contains("unknown key 'format'"), Error);
  CHECK_THROWS_WITH_AS(compressed_tensors::CompressedTensorsSaver(config["save"].at(2)),
                       doctest::Contains("save.2.part_file_size"), Error);
}

namespace {
namespace fs = std::filesystem;

// The few adapter calls a saver makes: checkpoint dtype and config.json.
class SaverAdapter final : public ModelAdapter {
 public:
  SaverAdapter(at::ScalarType dtype, nlohmann::json config) : dtype_(dtype), config_(std::move(config)) {}
  std::string model_type() const override { return "llama"; }
  const Tokenizer& tokenizer() const override { throw Error(ErrorCode::kToDo, "no tokenizer"); }
  BlockInput embed(const at::Tensor&) override { throw Error(ErrorCode::kToDo, "no embed"); }
  std::size_t num_blocks() const override { return 1; }
  std::string block_name(std::size_t) const override { return "model.layers.0"; }
  std::unique_ptr<Block> load_block(std::size_t) override { throw Error(ErrorCode::kToDo, "no blocks"); }
  at::Tensor head(const at::Tensor& hidden) override { return hidden; }
  std::vector<NamedTensor> non_block_parameters() override { return {}; }
  at::ScalarType checkpoint_dtype() const override { return dtype_; }
  nlohmann::json hf_config() const override { return config_; }

 private:
  at::ScalarType dtype_;
  nlohmann::json config_;
};

// The toy block's up_proj has a bias: its config says so (vLLM's Llama reads mlp_bias), or the saver refuses
// a bias the engine would drop.
const nlohmann::json kHfConfig = {
    {"model_type", "llama"}, {"hidden_size", 16}, {"torch_dtype", "bfloat16"}, {"mlp_bias", true}};

// A source checkpoint directory: config, tokenizer files, and weight files that must not be copied.
fs::path make_model_dir(const test::TempDir& dir) {
  const fs::path model = dir / "model";
  fs::create_directories(model);
  test::write_text(model / "config.json", kHfConfig.dump());
  test::write_text(model / "tokenizer.json", "{\"version\": \"1.0\"}");
  test::write_text(model / "generation_config.json", "{\"bos_token_id\": 1}");
  test::write_text(model / "chat_template.jinja", "{{ messages }}");
  test::write_text(model / "model.safetensors.index.json", "{\"weight_map\": {}}");
  save_safetensors(model / "model.safetensors", {{"x", at::zeros({2})}});
  return model;
}

std::vector<NamedTensor> head_parameters() {
  at::manual_seed(11);
  return {{"model.embed_tokens.weight", at::randn({29, 16})},
          {"model.norm.weight", at::ones({16})},
          {"lm_head.weight", at::randn({29, 16})}};
}

// Runs the saver the way the runner does: begin, one block, finish.
void run_saver(const std::string& yaml, Block& block, const fs::path& model, const fs::path& out,
               at::ScalarType dtype = at::kBFloat16) {
  fs::create_directories(out);
  const auto config = parse_yaml_string("save:\n  - " + yaml + "\n", "s.yaml");
  SaverAdapter adapter(dtype, kHfConfig);
  compressed_tensors::CompressedTensorsSaver saver(config["save"].at(0));
  saver.begin({out, model, adapter, nullptr});
  saver.save_block(block);
  saver.finish(head_parameters());
}

// (q − offset)·scale in float64 from the QuantizedLinear, scales expanded over groups.
at::Tensor expected_dequant(const QuantizedLinear& q) {
  const at::Tensor scale = q.weight_scale.to(at::kDouble).reshape({q.qweight.size(0), -1});
  const at::Tensor offset = q.weight_offset.to(at::kDouble).reshape({q.qweight.size(0), -1});
  const std::int64_t group = q.qweight.size(1) / scale.size(1);
  return (q.qweight.to(at::kDouble) - offset.repeat_interleave(group, 1)) * scale.repeat_interleave(group, 1);
}

// Dequantizes a saved linear from its tensors only: int-quantized `weight` or pack-quantized `weight_packed`
// (decoded word by word in int64 arithmetic), times weight_scale per row or per (row, group).
at::Tensor saved_dequant(const SafetensorsCheckpoint& saved, const std::string& module, int bits) {
  const at::Tensor scale = saved.load(module + ".weight_scale").to(at::kDouble);
  at::Tensor values;
  if (saved.contains(module + ".weight")) {
    values = saved.load(module + ".weight").to(at::kDouble);
  } else {
    const at::Tensor shape = saved.load(module + ".weight_shape");
    const std::int64_t rows = shape[0].item<std::int64_t>();
    const std::int64_t cols = shape[1].item<std::int64_t>();
    const at::Tensor packed = saved.load(module + ".weight_packed");
    const std::int64_t per_word = 32 / bits;
    std::vector<double> decoded;
    for (std::int64_t r = 0; r < rows; ++r) {
      for (std::int64_t c = 0; c < cols; ++c) {
        const std::int64_t word = packed[r][c / per_word].item<std::int32_t>() & 0xFFFFFFFFLL;
        const std::int64_t code = (word >> ((c % per_word) * bits)) & ((1LL << bits) - 1);
        decoded.push_back(static_cast<double>(code - (1LL << (bits - 1))));
      }
    }
    values = at::tensor(decoded, at::kDouble).reshape({rows, cols});
  }
  const std::int64_t group = values.size(1) / scale.size(1);
  return values * scale.repeat_interleave(group, 1);
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
  return names;
}

const char* kDynamic =
    "{act: {scope: per_token, dtype: int8, symmetric: true}, weight: {scope: per_channel, dtype: int8, "
    "symmetric: true}}";
const char* kStaticAsym =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel, dtype: int8, "
    "symmetric: true}}";
const char* kW8A16 = "{weight: {scope: per_channel, dtype: int8, symmetric: true}}";
const char* kW4A16 = "{weight: {scope: per_group, dtype: int4, symmetric: true, ext: {group_size: 8}}}";
}  // namespace

TEST_CASE("saver: each supported form round-trips through the files to the QuantizedLinear's weights") {
  struct Form {
    const char* qconfig;
    std::string format;
    int bits;
    nlohmann::json activations;  // expected input_activations (subset), null for weight-only
  };
  const std::vector<Form> forms = {
      {kDynamic, "int-quantized", 8, {{"strategy", "token"}, {"dynamic", true}, {"symmetric", true}}},
      {kStaticAsym, "int-quantized", 8, {{"strategy", "tensor"}, {"dynamic", false}, {"symmetric", false}}},
      {kW8A16, "pack-quantized", 8, nullptr},
      {kW4A16, "pack-quantized", 4, nullptr},
  };
  for (const Form& form : forms) {
    CAPTURE(form.qconfig);
    test::TempDir dir("ct-saver");
    const fs::path model = make_model_dir(dir);
    test::ToyBlock block("model.layers.0", 16, 24, 21);
    ct_quantize_block(block, form.qconfig);
    const at::Tensor up_float = block.up().weight().clone();
    run_saver("{type: compressed_tensors, part_file_size: 0}", block, model, dir / "out");

    const auto saved = SafetensorsCheckpoint::open_dir(dir / "out");
    for (Linear* linear : block.linears()) {
      CAPTURE(linear->name());
      const QuantizedLinear& q = *linear->quantized();
      const at::Tensor ours = saved_dequant(saved, linear->name(), form.bits);
      CHECK(at::equal(ours, expected_dequant(q)));
      // and the quantization is a real one of the float weight (half a step per element at most)
      if (linear == &block.up()) {
        const at::Tensor step = saved.load(linear->name() + ".weight_scale").to(at::kDouble);
        const std::int64_t group = ours.size(1) / step.size(1);
        CHECK((ours - up_float.to(at::kDouble))
                  .abs()
                  .le(step.repeat_interleave(group, 1) * 0.5 + 1e-6)
                  .all()
                  .item<bool>());
      }
      const std::int64_t groups = q.group_size > 0 ? linear->in_features() / q.group_size : 1;
      CHECK(saved.info(linear->name() + ".weight_scale").shape ==
            std::vector<std::int64_t>({linear->out_features(), groups}));
      CHECK(saved.info(linear->name() + ".weight_scale").dtype == "F32");
      if (form.format == "int-quantized") {
        CHECK(saved.info(linear->name() + ".weight").dtype == "I8");
        CHECK(!saved.contains(linear->name() + ".weight_packed"));
      } else {
        CHECK(!saved.contains(linear->name() + ".weight"));
        CHECK(saved.info(linear->name() + ".weight_packed").dtype == "I32");
        CHECK(saved.info(linear->name() + ".weight_packed").shape ==
              std::vector<std::int64_t>({linear->out_features(), linear->in_features() * form.bits / 32}));
        CHECK(saved.info(linear->name() + ".weight_shape").dtype == "I64");
      }
      const bool is_static = q.act_mode == ActivationQuantMode::kStaticPerTensor;
      CHECK(saved.contains(linear->name() + ".input_scale") == is_static);
      if (is_static) {
        CHECK(saved.info(linear->name() + ".input_scale").shape == std::vector<std::int64_t>({1}));
        CHECK(saved.load(linear->name() + ".input_scale").item<float>() == q.input_scale.item<float>());
        // compressed-tensors: x_q = round(x / scale + zp), x = (x_q − zp)·scale; zp int8 like the weight
        const at::Tensor zp = saved.load(linear->name() + ".input_zero_point");
        CHECK(saved.info(linear->name() + ".input_zero_point").dtype == "I8");
        CHECK(zp.item<std::int64_t>() == static_cast<std::int64_t>(q.input_offset.item<float>()));
      }
    }
    // The float bias and the non-quantized parameters keep the checkpoint dtype and their names.
    CHECK(saved.info("model.layers.0.mlp.up_proj.bias").dtype == "BF16");
    CHECK(saved.info("lm_head.weight").dtype == "BF16");
    CHECK(saved.info("model.norm.weight").dtype == "BF16");
    CHECK(saved.info("model.embed_tokens.weight").dtype == "BF16");
    CHECK(!saved.contains("x"));  // the source's weights are not copied

    const auto config = read_json_file(dir / "out" / "config.json");
    CHECK(config["hidden_size"] == 16);
    const auto& qc = config["quantization_config"];
    CHECK(qc["quant_method"] == "compressed-tensors");
    CHECK(qc["format"] == form.format);
    CHECK(qc["quantization_status"] == "compressed");
    CHECK(qc["version"].is_string());
    CHECK(qc["ignore"] == nlohmann::json::array({"lm_head"}));
    REQUIRE(qc["config_groups"].size() == 1);
    const auto& group = qc["config_groups"]["group_0"];
    CHECK(group["targets"] == nlohmann::json::array({"Linear"}));
    CHECK(group["format"] == form.format);
    CHECK(group["weights"]["num_bits"] == form.bits);
    CHECK(group["weights"]["type"] == "int");
    CHECK(group["weights"]["symmetric"] == true);
    CHECK(group["weights"]["dynamic"] == false);
    CHECK(group["weights"]["strategy"] == (form.bits == 4 ? "group" : "channel"));
    if (form.activations.is_null()) {
      CHECK(group["input_activations"].is_null());
    } else {
      for (const auto& [key, value] : form.activations.items())
        CHECK(group["input_activations"][key] == value);
      CHECK(group["input_activations"]["num_bits"] == 8);
      CHECK(group["input_activations"]["type"] == "int");
    }
    CHECK(files_in(dir / "out") ==
          std::set<std::string>({"config.json", "tokenizer.json", "generation_config.json",
                                 "chat_template.jinja", "model.safetensors"}));
  }
}

TEST_CASE("saver: float linears go to ignore; two schemes make a mixed-precision config naming modules") {
  test::TempDir dir("ct-mixed");
  const fs::path model = make_model_dir(dir);
  SUBCASE("one float linear") {
    test::ToyBlock block("model.layers.0", 16, 24, 22);
    ct_quantize_block(block, kW8A16);
    block.down().set_quantized(nullptr);
    run_saver("{type: compressed_tensors, part_file_size: 0}", block, model, dir / "out", at::kFloat);
    const auto qc = read_json_file(dir / "out" / "config.json")["quantization_config"];
    CHECK(qc["ignore"] == nlohmann::json::array({"model.layers.0.mlp.down_proj", "lm_head"}));
    const auto saved = SafetensorsCheckpoint::open_dir(dir / "out");
    CHECK(saved.info("model.layers.0.mlp.down_proj.weight").dtype == "F32");
    CHECK(at::equal(saved.load("model.layers.0.mlp.down_proj.weight"), block.down().weight()));
  }
  SUBCASE("W8A8 dynamic and W4A16 in one block") {
    test::ToyBlock block("model.layers.0", 16, 24, 23);
    test::ToyBlock other("model.layers.0", 16, 24, 23);
    ct_quantize_block(block, kDynamic);
    ct_quantize_block(other, kW4A16);
    block.down().set_quantized(other.down().quantized());
    run_saver("{type: compressed_tensors, part_file_size: 0}", block, model, dir / "out");
    const auto qc = read_json_file(dir / "out" / "config.json")["quantization_config"];
    CHECK(qc["format"] == "mixed-precision");
    REQUIRE(qc["config_groups"].size() == 2);
    CHECK(qc["config_groups"]["group_0"]["targets"] == nlohmann::json::array({"model.layers.0.mlp.up_proj"}));
    CHECK(qc["config_groups"]["group_0"]["format"] == "int-quantized");
    CHECK(qc["config_groups"]["group_1"]["targets"] ==
          nlohmann::json::array({"model.layers.0.mlp.down_proj"}));
    CHECK(qc["config_groups"]["group_1"]["format"] == "pack-quantized");
    CHECK(qc["config_groups"]["group_1"]["weights"]["group_size"] == 8);
    const auto saved = SafetensorsCheckpoint::open_dir(dir / "out");
    CHECK(at::equal(saved_dequant(saved, "model.layers.0.mlp.down_proj", 4),
                    expected_dequant(*other.down().quantized())));
  }
}

TEST_CASE("saver: part_file_size shards like Hugging Face, with an index covering every tensor") {
  test::TempDir dir("ct-shards");
  const fs::path model = make_model_dir(dir);
  test::ToyBlock block("model.layers.0", 16, 24, 24);
  ct_quantize_block(block, kDynamic);
  // 1 KiB shards: the 29x16 bf16 embedding alone is 928 bytes.
  run_saver("{type: compressed_tensors, part_file_size: 0.000001}", block, model, dir / "out");
  const auto index = read_json_file(dir / "out" / "model.safetensors.index.json");
  std::set<std::string> shards;
  for (const auto& [name, file] : index["weight_map"].items()) shards.insert(file.get<std::string>());
  REQUIRE(shards.size() > 1);
  const std::string last = "model-0000" + std::to_string(shards.size()) + "-of-0000" +
                           std::to_string(shards.size()) + ".safetensors";
  CHECK(shards.count("model-00001-of-0000" + std::to_string(shards.size()) + ".safetensors") == 1);
  CHECK(shards.count(last) == 1);
  for (const auto& shard : shards) CHECK(fs::exists(dir / "out" / shard));
  CHECK(!fs::exists(dir / "out" / "model.safetensors"));
  const auto saved = SafetensorsCheckpoint::open_dir(dir / "out");
  CHECK(index["weight_map"].size() == saved.names().size());
  CHECK(at::equal(saved_dequant(saved, "model.layers.0.mlp.up_proj", 8),
                  expected_dequant(*block.up().quantized())));
}

TEST_CASE("saver: a form without a layout fails naming the module and leaves no output files") {
  // Forms built by hand from a W8A8 dynamic result: asymmetric weight-only, int4 weights with int8
  // activations (W4A8), per-group int8 weights with activations, asymmetric dynamic activations.
  using Edit = void (*)(QuantizedLinear&);
  const std::vector<std::pair<Edit, std::string>> cases = {
      {[](QuantizedLinear& q) {
         q.act_mode = ActivationQuantMode::kNone;
         q.weight_symmetric = false;
       },
       "asymmetric weight-only quantization"},
      {[](QuantizedLinear& q) { q.weight_bits = 4; },
       "quantized activations with weights other than int8 per-channel symmetric"},
      {[](QuantizedLinear& q) { q.group_size = 8; },
       "quantized activations with weights other than int8 per-channel symmetric"},
      {[](QuantizedLinear& q) { q.act_symmetric = false; }, "asymmetric dynamic activations"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    test::TempDir dir("ct-unsupported");
    const fs::path model = make_model_dir(dir);
    test::ToyBlock block("model.layers.0", 16, 24, 25);
    ct_quantize_block(block, kDynamic);
    auto edited = std::make_shared<QuantizedLinear>(*block.down().quantized());
    cases[i].first(*edited);
    block.down().set_quantized(edited);
    const std::string expected = "model.layers.0.mlp.down_proj: " + cases[i].second;
    CHECK_THROWS_WITH_AS(run_saver("{type: compressed_tensors}", block, model, dir / "out"),
                         doctest::Contains(expected.c_str()), Error);
    CHECK(files_in(dir / "out").empty());  // the staging dir holds nothing once the saver is gone
  }
}

TEST_CASE("pack_to_int32 pads a partial last word with zero codes, as compressed-tensors does") {
  const at::Tensor values = at::tensor({-8, 7, 1}, at::kChar).reshape({1, 3});
  const at::Tensor packed = compressed_tensors::pack_to_int32(values, 4);
  CHECK(packed.sizes() == at::IntArrayRef({1, 1}));
  CHECK(packed[0][0].item<std::int32_t>() == static_cast<std::int32_t>(0x0U | (15U << 4) | (9U << 8)));
}

TEST_CASE("saver config: ext must be a map") {
  const auto config = parse_yaml_string(
      "save:\n  - {type: compressed_tensors, ext: {a: 1}}\n  - {type: compressed_tensors, ext: 3}\n",
      "s.yaml");
  CHECK_NOTHROW(compressed_tensors::CompressedTensorsSaver(config["save"].at(0)));
  CHECK_THROWS_WITH_AS(compressed_tensors::CompressedTensorsSaver(config["save"].at(1)),
                       doctest::Contains("save.1.ext"), Error);
}

// ---- issue 11: tied embeddings, integer narrowing, vLLM's rules (config time and save time) ----

namespace {
std::string ct_refusal(const PracticeView& view) {
  const compressed_tensors::CompressedTensorsSaver saver(
      parse_yaml_string("{type: compressed_tensors}", "s.yaml"));
  try {
    saver.check_practice(view);
  } catch (const Error& error) {
    return std::string(error.what()) + "\nTIP: " + error.tip();
  }
  return "";
}

std::string lq(const std::string& qconfig, const std::string& extra = "") {
  return "{type: linear_quant, qconfig: " + qconfig + extra + "}";
}
}  // namespace

TEST_CASE("saver: a tied lm_head (no tensor of its own) is still in ignore") {
  test::TempDir dir("ct-tied");
  const fs::path model = make_model_dir(dir);
  test::ToyBlock block("model.layers.0", 16, 24, 26);
  ct_quantize_block(block, kDynamic);
  fs::create_directories(dir / "out");
  SaverAdapter adapter(at::kBFloat16, kHfConfig);
  compressed_tensors::CompressedTensorsSaver saver(parse_yaml_string("{type: compressed_tensors}", "s.yaml"));
  saver.begin({dir / "out", model, adapter, nullptr});
  saver.save_block(block);
  std::vector<NamedTensor> tied = head_parameters();
  tied.pop_back();  // no lm_head.weight: tie_word_embeddings
  saver.finish(tied);
  const auto ignore = read_json_file(dir / "out" / "config.json")["quantization_config"]["ignore"];
  CHECK(ignore == nlohmann::json::array({"lm_head"}));
}

TEST_CASE("an input zero point outside int8 is an error naming the tensor, never a wrap") {
  test::ToyBlock block("model.layers.0", 16, 24, 27);
  ct_quantize_block(block, kStaticAsym);
  auto edited = std::make_shared<QuantizedLinear>(*block.up().quantized());
  edited->input_offset = at::tensor({300.0F});  // int8 would wrap it to 44
  CHECK_THROWS_WITH_AS(compressed_tensors::quantized_tensors(*edited, "m.up_proj", at::kFloat),
                       doctest::Contains("m.up_proj.input_zero_point"), Error);
}

TEST_CASE("pack_to_int32 refuses codes outside the bit width instead of spilling into the next value") {
  const at::Tensor values = at::tensor({1, 8, -3, 2, 0, 0, 0, 0}, at::kChar).reshape({1, 8});
  CHECK_THROWS_WITH_AS(compressed_tensors::pack_to_int32(values, 4), doctest::Contains("outside [-8, 7]"),
                       Error);
}

TEST_CASE("vLLM rules at config time: asymmetric smoothing, kernel group sizes, fused modules") {
  const nlohmann::json hf = test::llama_config();
  const std::string asym =
      ct_refusal(test::practice_view("[{type: iter_smooth, symmetric: false}, " + lq(kStaticAsym) + "]", hf));
  CHECK(asym.find("compressed_tensors saver: spec.process.0 (iter_smooth)") != std::string::npos);
  CHECK(asym.find("RMSNorm has no bias") != std::string::npos);
  CHECK(asym.find("use symmetric: true") != std::string::npos);
  CHECK(
      ct_refusal(test::practice_view("[{type: group, configs: [{type: iter_smooth, symmetric: false}]}]", hf))
          .find("spec.process.0.configs.0 (iter_smooth)") != std::string::npos);
  CHECK(ct_refusal(test::practice_view("[{type: iter_smooth}, " + lq(kStaticAsym) + "]", hf)).empty());
  // Marlin: per-channel or groups of 32, 64, 128.
  for (const int group : {32, 64, 128}) {
    CHECK(
        ct_refusal(test::practice_view("[" +
                                           lq("{weight: {scope: per_group, dtype: int4, ext: {group_size: " +
                                              std::to_string(group) + "}}}") +
                                           "]",
                                       hf))
            .empty());
  }
  const std::string group16 = ct_refusal(test::practice_view(
      "[" + lq("{weight: {scope: per_group, dtype: int4, ext: {group_size: 16}}}") + "]", hf));
  CHECK(group16.find("spec.process.0 (linear_quant)") != std::string::npos);
  CHECK(group16.find("Marlin") != std::string::npos);
  // Fused modules: all parts one scheme, or all float.
  const std::string split =
      ct_refusal(test::practice_view("[" + lq(kDynamic, ", include: ['*q_proj', '*k_proj']") + "]", hf));
  CHECK(split.find("model.layers.0.self_attn.qkv_proj is one fused module") != std::string::npos);
  CHECK(split.find("v_proj: float") != std::string::npos);
  // An exclusion of one part keeps the whole module in float: accepted.
  CHECK(ct_refusal(
            test::practice_view("[" + lq(kDynamic, ", exclude: ['*layers.0.self_attn.v_proj']") + "]", hf))
            .empty());
  CHECK(ct_refusal(test::practice_view("[" + lq(kDynamic, ", exclude: ['*self_attn*']") + "]", hf)).empty());
}

TEST_CASE("vLLM rules at save time: dropped norm or linear biases and split fused modules fail the block") {
  const auto run = [](test::LlamaNamedBlock& block, const nlohmann::json& hf) {
    test::TempDir dir("ct-block");
    test::ConfigOnlyAdapter adapter(at::kFloat, hf);
    compressed_tensors::CompressedTensorsSaver saver(
        parse_yaml_string("{type: compressed_tensors}", "s.yaml"));
    saver.begin({dir.path(), dir.path(), adapter, nullptr});
    saver.save_block(block);
  };
  {
    test::LlamaNamedBlock block;
    block.add_parameter("input_layernorm.bias", at::ones({8}));
    CHECK_THROWS_WITH_AS(run(block, test::llama_config()),
                         doctest::Contains("model.layers.0.input_layernorm.bias would be dropped"), Error);
  }
  {
    test::LlamaNamedBlock block;
    block.linear("self_attn.k_proj").bias() = at::ones({8});
    CHECK_THROWS_WITH_AS(run(block, test::llama_config()),
                         doctest::Contains("model.layers.0.self_attn.k_proj.bias would be dropped"), Error);
    CHECK_NOTHROW(run(block, test::llama_config({{"model_type", "qwen2"}})));  // Qwen2 has q/k/v biases
  }
  {
    test::LlamaNamedBlock block;
    test::ToyBlock toy("model.layers.0", 8, 8, 28);
    ct_quantize_block(toy, kDynamic);
    block.linear("mlp.gate_proj").set_quantized(toy.down().quantized());
    CHECK_THROWS_WITH_AS(run(block, test::llama_config()),
                         doctest::Contains("gate_up_proj is one fused module"), Error);
    block.linear("mlp.up_proj").set_quantized(toy.down().quantized());
    CHECK_NOTHROW(run(block, test::llama_config()));
  }
}

TEST_CASE("vLLM rules: an int8 KV cache (dynamic_cache) is refused, naming the ascendv1 alternative") {
  const nlohmann::json hf = test::llama_config();
  const std::string refusal = ct_refusal(test::practice_view(
      "[" + lq(kStaticAsym) + ", {type: dynamic_cache, qconfig: {scope: per_channel, dtype: int8}}]", hf));
  CHECK_MESSAGE(refusal.find("spec.process.1 (dynamic_cache)") != std::string::npos, refusal);
  CHECK(refusal.find("fp8") != std::string::npos);
  CHECK(refusal.find("ascendv1_saver") != std::string::npos);
}
