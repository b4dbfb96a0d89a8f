// compressed-tensors layout: packed int32 words decode (by an independent bit-by-bit unpacking) to the
// quantized integers; scales, zero points and QuantizationArgs follow the documented format; forms without
// a layout are refused naming the module.
#include "support/doctest.hpp"

#include "compressed_tensors_layout.hpp"
#include "compressed_tensors_saver.hpp"
#include "linear_quant_processor.hpp"
#include "modelslim/error.hpp"
#include "support/toy_block.hpp"

using namespace modelslim;

namespace {
void quantize_block(test::ToyBlock& block, const std::string& qconfig) {
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

at::Tensor find(const std::vector<std::pair<std::string, at::Tensor>>& tensors, const std::string& key) {
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
  quantize_block(block, "{weight: {scope: per_group, dtype: int4, symmetric: true, ext: {group_size: 8}}}");
  const QuantizedLinear& q = *block.down().quantized();
  const std::string p = "model.layers.0.mlp.down_proj";
  const auto tensors = compressed_tensors::quantized_tensors(q, p, at::kBFloat16);
  const at::Tensor packed = find(tensors, p + ".weight_packed");
  CHECK(packed.sizes() == at::IntArrayRef({16, 3}));  // 24 int4 per row → 3 words
  for (std::int64_t row = 0; row < 16; ++row) {
    const auto values = unpack_row(packed[row], 4);
    for (std::int64_t col = 0; col < 24; ++col)
      CHECK(values[col] == q.qweight[row][col].item<std::int64_t>());
  }
  CHECK(q.qweight.min().item<std::int64_t>() >= -8);
  CHECK(q.qweight.max().item<std::int64_t>() <= 7);
  CHECK(find(tensors, p + ".weight_scale").sizes() == at::IntArrayRef({16, 3}));
  CHECK(at::equal(find(tensors, p + ".weight_shape"),
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
  quantize_block(block, "{weight: {scope: per_channel, dtype: int8, symmetric: true}}");
  const QuantizedLinear& q = *block.up().quantized();
  const std::string p = "model.layers.0.mlp.up_proj";
  const auto tensors = compressed_tensors::quantized_tensors(q, p, at::kFloat);
  const at::Tensor packed = find(tensors, p + ".weight_packed");
  CHECK(packed.sizes() == at::IntArrayRef({24, 4}));
  for (std::int64_t row = 0; row < 24; ++row) {
    const auto values = unpack_row(packed[row], 8);
    for (std::int64_t col = 0; col < 16; ++col)
      CHECK(values[col] == q.qweight[row][col].item<std::int64_t>());
  }
  CHECK(find(tensors, p + ".weight_scale").sizes() == at::IntArrayRef({24, 1}));
  CHECK(find(tensors, p + ".bias").sizes() == at::IntArrayRef({24}));
  CHECK(compressed_tensors::scheme_of(q, p).weights["strategy"] == "channel");
}

TEST_CASE("W8A8 static asymmetric: int8 weight, input scale and zero point reproduce the fake quantizer") {
  test::ToyBlock block("model.layers.0", 16, 24, 5);
  quantize_block(block,
                 "{act: {scope: per_tensor, dtype: int8, symmetric: false}, "
                 "weight: {scope: per_channel, dtype: int8, symmetric: true}}");
  const QuantizedLinear& q = *block.up().quantized();
  const std::string p = "model.layers.0.mlp.up_proj";
  const auto tensors = compressed_tensors::quantized_tensors(q, p, at::kFloat);
  CHECK(at::equal(find(tensors, p + ".weight"), q.qweight.to(at::kChar)));
  const at::Tensor zero_point = find(tensors, p + ".input_zero_point");
  CHECK((zero_point.scalar_type() == at::kChar));
  // Dequantize one value the compressed-tensors way, (q − zp)·scale, and compare with our convention.
  const double scale = find(tensors, p + ".input_scale").item<double>();
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
  quantize_block(block,
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
  quantize_block(block, "{weight: {scope: per_channel, dtype: int8, symmetric: false}}");
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
