// ascendv1 tensors: the saved integers reproduce the calibrated fake-quant linear, checked in float64 from
// the deployment formula y = deq_scale · (Wq·xq + quant_bias); shard splitting and index.
#include "support/doctest.hpp"

#include "ascend_tensors.hpp"
#include "ascendv1_saver.hpp"
#include "linear_quant_processor.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/sharded_writer.hpp"
#include "row_sums.hpp"
#include "support/largest_allocation.hpp"
#include "support/saver_rules_support.hpp"
#include "support/test_support.hpp"
#include "support/toy_block.hpp"

#include <ATen/ATen.h>

using namespace modelslim;

namespace {
void quantize_block(test::ToyBlock& block, const std::string& act, const std::string& weight_dtype = "int8") {
  const std::string yaml = "process:\n  - type: linear_quant\n    qconfig:\n" + act +
                           "      weight: {scope: per_channel, dtype: " + weight_dtype +
                           ", symmetric: true}\n";
  linear_quant::LinearQuantProcessor processor(parse_yaml_string(yaml, "t.yaml")["process"].at(0));
  at::manual_seed(5);
  const auto context = std::make_shared<test::ToyContext>();
  std::vector<BlockInput> inputs = {{at::randn({1, 6, 16}) * 2.0 + 0.5, context}};
  BlockRequest request{block.name(), block, inputs, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
}

at::Tensor find(const std::vector<ascendv1::TypedTensor>& tensors, const std::string& key) {
  for (const auto& t : tensors) {
    if (t.key == key) return t.tensor;
  }
  FAIL("missing " << key);
  return {};
}
}  // namespace

TEST_CASE("W8A8 static: deq_scale and quant_bias reproduce the fake-quant linear (bias folded)") {
  test::ToyBlock block("model.layers.0", 16, 24, 21);
  quantize_block(block, "      act: {scope: per_tensor, dtype: int8, symmetric: false}\n");
  const auto tensors = ascendv1::linear_tensors(block.up(), at::kBFloat16);
  const std::string p = "model.layers.0.mlp.up_proj";
  const at::Tensor weight = find(tensors, p + ".weight");
  const at::Tensor input_scale = find(tensors, p + ".input_scale");
  const at::Tensor input_offset = find(tensors, p + ".input_offset");
  const at::Tensor deq_scale = find(tensors, p + ".deq_scale");
  const at::Tensor quant_bias = find(tensors, p + ".quant_bias");
  CHECK((weight.scalar_type() == at::kChar));
  CHECK(input_scale.sizes() == at::IntArrayRef({1}));
  CHECK((input_offset.scalar_type() == at::kFloat));
  CHECK((deq_scale.scalar_type() == at::kFloat));  // bf16 model: float32
  CHECK((quant_bias.scalar_type() == at::kInt));
  CHECK(quant_bias.sizes() == at::IntArrayRef({24}));
  for (const auto& t : tensors) CHECK(t.type == std::string(t.key == p + ".bias" ? "FLOAT" : "W8A8"));

  // Deployment arithmetic in float64 on integer activations.
  at::manual_seed(9);
  const at::Tensor x = at::randn({3, 16}, at::kDouble) * 2.0 + 0.5;
  const double s = input_scale.item<double>();
  const double o = input_offset.item<double>();
  const at::Tensor xq = at::clamp(at::round(x / s + o), -128, 127);
  const at::Tensor deployed =
      deq_scale.to(at::kDouble) * (at::matmul(xq, weight.to(at::kDouble).t()) + quant_bias.to(at::kDouble));
  const at::Tensor simulated = block.up().forward(x.to(at::kFloat)).to(at::kDouble);
  // quant_bias is rounded to an integer: the difference is at most half a deq step per output.
  const at::Tensor tolerance = deq_scale.to(at::kDouble) * 0.5 + 1e-5;
  const at::Tensor excess = (deployed - simulated).abs() - tolerance;
  CHECK_MESSAGE(excess.max().item<double>() <= 0.0, "worst excess " << excess.max().item<double>());
}

// Hand-derived: input_scale 0.5, weight_scale [0.5, 0.25, 3] → deq_scale [0.25, 0.125, 1.5], whose IEEE-754
// single bit patterns are 0x3E800000 (2^-2), 0x3E000000 (2^-3) and 0x3FC00000 (1.1b · 2^0).
// quant_bias = round(bias / deq_scale - input_offset · Σ_j Wq[i, j]) (the reference's on_w8a8_static), with
// input_offset 2 and Wq rows [1, -2, 3], [4, 0, -1], [0, 0, 0], bias [0.3, -0.25, 3.0]:
//   row 0: 0.3 / 0.25 - 2·2 = 1.2 - 4 = -2.8 → -3
//   row 1: -0.25 / 0.125 - 2·3 = -2 - 6 = -8
//   row 2: 3 / 1.5 - 0 = 2
TEST_CASE("W8A8 static: deq_scale bits (fp16/fp32 models) and quant_bias, hand-derived") {
  test::ToyBlock block("model.layers.0", 3, 3, 21);
  QuantizedLinear q;
  q.weight_bits = 8;
  q.act_mode = ActivationQuantMode::kStaticPerTensor;
  q.qweight = at::tensor({1, -2, 3, 4, 0, -1, 0, 0, 0}, at::kInt).to(at::kChar).reshape({3, 3});
  q.weight_scale = at::tensor({0.5f, 0.25f, 3.0f});
  q.weight_offset = at::zeros({3});
  q.input_scale = at::tensor({0.5f});
  q.input_offset = at::tensor({2.0f});
  q.bias = at::tensor({0.3f, -0.25f, 3.0f});
  block.up().set_quantized(std::make_shared<QuantizedLinear>(q));
  const std::string p = "model.layers.0.mlp.up_proj";
  const auto fp32 = ascendv1::linear_tensors(block.up(), at::kFloat);
  const at::Tensor bits = find(fp32, p + ".deq_scale");
  CHECK((bits.scalar_type() == at::kLong));
  REQUIRE(bits.sizes() == at::IntArrayRef({3}));
  CHECK(bits[0].item<std::int64_t>() == 0x3E800000);
  CHECK(bits[1].item<std::int64_t>() == 0x3E000000);
  CHECK(bits[2].item<std::int64_t>() == 0x3FC00000);
  const at::Tensor quant_bias = find(fp32, p + ".quant_bias");
  CHECK((quant_bias.scalar_type() == at::kInt));
  CHECK(quant_bias[0].item<int>() == -3);
  CHECK(quant_bias[1].item<int>() == -8);
  CHECK(quant_bias[2].item<int>() == 2);
  // bf16 models: the same values as float32.
  const at::Tensor deq = find(ascendv1::linear_tensors(block.up(), at::kBFloat16), p + ".deq_scale");
  CHECK((deq.scalar_type() == at::kFloat));
  CHECK(deq[0].item<float>() == 0.25f);
  CHECK(deq[1].item<float>() == 0.125f);
  CHECK(deq[2].item<float>() == 1.5f);
}

// quant_bias needs Σ_j Wq[i, j]: a reduction to int64 of the whole weight would first convert it (8 bytes a
// value, fresh pages every linear); the sums are taken a few rows at a time. Checked in float64 by hand.
TEST_CASE("W8A8 static quant_bias: exact row sums without a full-size copy of the weight") {
  const std::int64_t rows = 300, cols = 4000;
  test::ToyBlock block("model.layers.0", cols, rows, 22);
  at::manual_seed(8);
  QuantizedLinear q;
  q.act_mode = ActivationQuantMode::kStaticPerTensor;
  q.qweight = at::randint(-128, 128, {rows, cols}, at::kChar);
  q.weight_scale = at::rand({rows}) * 0.01 + 0.001;
  q.weight_offset = at::zeros({rows});
  q.input_scale = at::tensor({0.05f});
  q.input_offset = at::tensor({-3.0f});
  q.bias = at::randn({rows});
  block.up().set_quantized(std::make_shared<QuantizedLinear>(q));
  std::vector<ascendv1::TypedTensor> tensors;
  std::size_t largest = 0;
  {
    const test::LargestAllocation allocations;
    tensors = ascendv1::linear_tensors(block.up(), at::kBFloat16);
    largest = allocations.bytes();
  }
  CHECK(largest < static_cast<std::size_t>(rows * cols * 2));  // int64 of the whole weight: 8 bytes a value
  const at::Tensor quant_bias = find(tensors, "model.layers.0.mlp.up_proj.quant_bias");
  const auto* w = q.qweight.data_ptr<std::int8_t>();
  for (std::int64_t i = 0; i < rows; ++i) {
    double sum = 0;
    for (std::int64_t j = 0; j < cols; ++j) sum += w[i * cols + j];
    const double deq = static_cast<double>(0.05f * q.weight_scale[i].item<float>());
    const double expected = std::nearbyint(q.bias.value()[i].item<double>() / deq + 3.0 * sum);
    CHECK(quant_bias[i].item<int>() == static_cast<int>(expected));
  }
}

TEST_CASE("W8A8_DYNAMIC and unquantized linears") {
  test::ToyBlock block("model.layers.1", 16, 24, 4);
  quantize_block(block, "      act: {scope: per_token, dtype: int8, symmetric: true}\n");
  const auto tensors = ascendv1::linear_tensors(block.up(), at::kFloat);
  const std::string p = "model.layers.1.mlp.up_proj";
  CHECK(find(tensors, p + ".weight_scale").sizes() == at::IntArrayRef({24, 1}));
  CHECK(find(tensors, p + ".weight_offset").abs().sum().item<float>() == 0.0f);
  CHECK(ascendv1::ascend_quant_type(*block.up().quantized()) == "W8A8_DYNAMIC");

  test::ToyBlock plain("model.layers.2", 16, 24, 4);
  const auto floats = ascendv1::linear_tensors(plain.up(), at::kHalf);
  REQUIRE(floats.size() == 2);
  CHECK(floats[0].type == "FLOAT");
  CHECK((floats[0].tensor.scalar_type() == at::kHalf));
}

TEST_CASE("sharded writer splits at the limit and indexes every tensor") {
  test::TempDir dir("shards");
  ShardedWriter writer(dir.path(), "quant_model_weights", 1000);
  for (int i = 0; i < 5; ++i)
    writer.add("t" + std::to_string(i), at::full({100}, i, at::kFloat));  // 400 B each
  writer.add("big", at::zeros({600}, at::kFloat));                        // 2400 B alone
  const auto names = writer.finish();
  REQUIRE(names.size() == 4);  // [t0 t1] [t2 t3] [t4] [big]
  CHECK(names[0] == "quant_model_weights-00001-of-00004.safetensors");
  const auto index = read_json_file(dir / "quant_model_weights.safetensors.index.json");
  CHECK(index["metadata"]["total_size"] == 5 * 400 + 2400);
  CHECK(index["weight_map"]["t2"] == "quant_model_weights-00002-of-00004.safetensors");
  CHECK(index["weight_map"]["big"] == "quant_model_weights-00004-of-00004.safetensors");
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK(checkpoint.load("t3")[0].item<float>() == 3.0f);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().find(".part") == std::string::npos);  // no temp names left
  }
}

TEST_CASE("ascendv1 saver config errors name the field") {
  const auto config = parse_yaml_string(
      "save:\n  - {type: ascendv1_saver, part_file_size: -2}\n  - {type: ascendv1_saver, shards: 3}\n"
      "  - {type: ascendv1_saver, ext: 5}\n",
      "s.yaml");
  CHECK_THROWS_WITH_AS(ascendv1::AscendV1Saver(config["save"].at(0)),
                       doctest::Contains("save.0.part_file_size"), Error);
  CHECK_THROWS_WITH_AS(ascendv1::AscendV1Saver(config["save"].at(1)),
                       doctest::Contains("unknown key 'shards'"), Error);
  CHECK_THROWS_WITH_AS(ascendv1::AscendV1Saver(config["save"].at(2)), doctest::Contains("save.2.ext"), Error);
}

TEST_CASE("int4 weights with static activations have no ascendv1 type: the error names the module") {
  test::ToyBlock block("model.layers.0", 16, 24, 8);
  QuantizedLinear q;
  q.weight_bits = 4;
  q.act_mode = ActivationQuantMode::kStaticPerTensor;
  q.qweight = at::zeros({24, 16}, at::kChar);
  q.weight_scale = at::ones({24});
  q.weight_offset = at::zeros({24});
  block.up().set_quantized(std::make_shared<QuantizedLinear>(q));
  CHECK_THROWS_WITH_AS(ascendv1::linear_tensors(block.up(), at::kFloat),
                       doctest::Contains("model.layers.0.mlp.up_proj"), Error);
}

namespace {
void quantize_weight_only(test::ToyBlock& block, const std::string& weight) {
  const std::string yaml = "process:\n  - type: linear_quant\n    qconfig:\n      weight: " + weight + "\n";
  linear_quant::LinearQuantProcessor processor(parse_yaml_string(yaml, "t.yaml")["process"].at(0));
  const auto context = std::make_shared<test::ToyContext>();
  std::vector<BlockInput> inputs;
  BlockRequest request{block.name(), block, inputs, {}, 0};
  processor.preprocess(request);
  processor.process(request);
  processor.postprocess(request);
}

int signed_nibble(int nibble) {
  return nibble >= 8 ? nibble - 16 : nibble;
}

// Independent decode of the reference's int4 byte layouts: pairs of rows (per-group) or columns.
std::vector<std::vector<int>> unpack_int4(const at::Tensor& packed, bool row_pairs) {
  const std::int64_t rows = packed.size(0) * (row_pairs ? 2 : 1);
  const std::int64_t cols = packed.size(1) * (row_pairs ? 1 : 2);
  std::vector<std::vector<int>> values(rows, std::vector<int>(cols));
  for (std::int64_t a = 0; a < packed.size(0); ++a) {
    for (std::int64_t b = 0; b < packed.size(1); ++b) {
      const int byte = static_cast<std::uint8_t>(packed[a][b].item<std::int8_t>());
      const int low = signed_nibble(byte & 0xF);
      const int high = signed_nibble(byte >> 4);
      if (row_pairs) {
        values[2 * a][b] = low;
        values[2 * a + 1][b] = high;
      } else {
        values[a][2 * b] = low;
        values[a][2 * b + 1] = high;
      }
    }
  }
  return values;
}
}  // namespace

TEST_CASE("W4A16: the saved int4 bytes, scales and offsets dequantize to the quantized linear's weights") {
  struct Case {
    std::string weight;
    std::int64_t group_size;
    bool symmetric;
  };
  const std::vector<Case> cases = {
      {"{scope: per_channel, dtype: int4, symmetric: true}", 0, true},
      {"{scope: per_channel, dtype: int4, symmetric: true, method: ssz}", 0, true},
      {"{scope: per_channel, dtype: int4, symmetric: false}", 0, false},
      {"{scope: per_group, dtype: int4, symmetric: true, ext: {group_size: 8}}", 8, true},
      {"{scope: per_group, dtype: int4, symmetric: false, ext: {group_size: 8}}", 8, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.weight);
    test::ToyBlock block("model.layers.3", 16, 32, 17);
    quantize_weight_only(block, c.weight);
    for (Linear* linear : {&block.up(), &block.down()}) {
      const QuantizedLinear& q = *linear->quantized();
      REQUIRE(ascendv1::ascend_quant_type(q) == "W4A16");
      const auto tensors = ascendv1::linear_tensors(*linear, at::kBFloat16);
      const std::string p = linear->name();
      for (const auto& t : tensors) CHECK(t.type == (t.key == p + ".bias" ? "FLOAT" : "W4A16"));
      const std::int64_t out = linear->out_features();
      const std::int64_t in = linear->in_features();
      const std::int64_t groups = c.group_size > 0 ? in / c.group_size : 1;
      const at::Tensor packed = find(tensors, p + ".weight");
      CHECK((packed.scalar_type() == at::kChar));
      // Per-group: output-row pairs [out/2, in]; per-channel: input-column pairs [out, in/2].
      CHECK(packed.sizes() ==
            (c.group_size > 0 ? at::IntArrayRef({out / 2, in}) : at::IntArrayRef({out, in / 2})));
      const auto values = unpack_int4(packed, c.group_size > 0);
      CHECK((find(tensors, p + ".weight_scale").scalar_type() == at::kFloat));
      CHECK((find(tensors, p + ".weight_offset").scalar_type() == at::kFloat));
      const at::Tensor scale = find(tensors, p + ".weight_scale").to(at::kDouble);
      const at::Tensor offset = find(tensors, p + ".weight_offset").to(at::kDouble);
      REQUIRE(scale.sizes() == at::IntArrayRef({out, groups}));
      REQUIRE(offset.sizes() == at::IntArrayRef({out, groups}));
      if (c.symmetric) CHECK(offset.abs().sum().item<double>() == 0.0);
      if (!c.symmetric) CHECK(offset.abs().sum().item<double>() > 0.0);
      const at::Tensor qweight = q.qweight.to(at::kDouble);
      const at::Tensor q_scale = q.weight_scale.to(at::kDouble).reshape({out, groups});
      const at::Tensor q_offset = q.weight_offset.to(at::kDouble).reshape({out, groups});
      const at::Tensor original = linear->weight().to(at::kDouble);
      double worst = 0.0;
      for (std::int64_t i = 0; i < out; ++i) {
        for (std::int64_t j = 0; j < in; ++j) {
          const std::int64_t g = c.group_size > 0 ? j / c.group_size : 0;
          CHECK(values[i][j] >= -8);
          CHECK(values[i][j] <= 7);
          const double saved = (values[i][j] - offset[i][g].item<double>()) * scale[i][g].item<double>();
          const double expected =
              (qweight[i][j].item<double>() - q_offset[i][g].item<double>()) * q_scale[i][g].item<double>();
          CHECK(saved == expected);
          // The grid brackets the float weight: at most half a step away (range always includes 0).
          worst =
              std::max(worst, std::abs(saved - original[i][j].item<double>()) / scale[i][g].item<double>());
        }
      }
      // min/max grids bracket every weight; SSZ may trade clipping for a finer step.
      if (c.weight.find("ssz") == std::string::npos) CHECK(worst <= 0.5 + 1e-4);
    }
  }
}

TEST_CASE("W4A16 packing needs an even packed axis; the error names the module") {
  test::ToyBlock block("model.layers.0", 15, 24, 8);  // up_proj in_features 15
  quantize_weight_only(block, "{scope: per_channel, dtype: int4}");
  CHECK_THROWS_WITH_AS(ascendv1::linear_tensors(block.up(), at::kFloat),
                       doctest::Contains("model.layers.0.mlp.up_proj: W4A16"), Error);
}

TEST_CASE("W4A8_DYNAMIC: packed row pairs, zero offsets and scale_bias as the reference's kernels expect") {
  test::ToyBlock block("model.layers.0", 16, 32, 12);
  quantize_block(block, "      act: {scope: per_token, dtype: int8, symmetric: true}\n", "int4");
  for (Linear* linear : {&block.up(), &block.down()}) {
    const QuantizedLinear& q = *linear->quantized();
    CHECK(ascendv1::ascend_quant_type(q) == "W4A8_DYNAMIC");
    const auto tensors = ascendv1::linear_tensors(*linear, at::kBFloat16);
    const std::string p = linear->name();
    const at::Tensor packed = find(tensors, p + ".weight");
    const std::int64_t out = q.qweight.size(0);
    const std::int64_t in = q.qweight.size(1);
    REQUIRE(packed.sizes() == at::IntArrayRef({out / 2, in}));
    CHECK((packed.scalar_type() == at::kChar));
    for (std::int64_t m = 0; m < out / 2; ++m) {
      for (std::int64_t j = 0; j < in; ++j) {
        // Independent decode of one byte: low nibble row 2m, high nibble row 2m+1, both signed.
        const int byte = static_cast<std::uint8_t>(packed[m][j].item<std::int8_t>());
        const int low = (byte & 0xF) >= 8 ? (byte & 0xF) - 16 : (byte & 0xF);
        const int high = (byte >> 4) >= 8 ? (byte >> 4) - 16 : (byte >> 4);
        CHECK(low == q.qweight[2 * m][j].item<int>());
        CHECK(high == q.qweight[2 * m + 1][j].item<int>());
      }
    }
    CHECK(find(tensors, p + ".weight_offset").abs().sum().item<double>() == 0.0);
    // scale_bias values: hand-derived in the next test case.
    CHECK(find(tensors, p + ".scale_bias").sizes() ==
          at::IntArrayRef({out, p.find("down_proj") != std::string::npos ? 16 : 1}));
  }
}

namespace {
std::shared_ptr<QuantizedLinear> w4a8(const std::vector<int>& values, std::int64_t in,
                                      const std::vector<float>& scales) {
  auto q = std::make_shared<QuantizedLinear>();
  q->weight_bits = 4;
  q->act_mode = ActivationQuantMode::kDynamicPerToken;
  q->qweight = at::tensor(values, at::kInt).to(at::kChar).reshape({-1, in});
  q->weight_scale = at::tensor(scales);
  q->weight_offset = at::zeros({static_cast<std::int64_t>(scales.size())});
  return q;
}
}  // namespace

// The reference (msmodelslim modelslim_v1 save/ascendv1.py on_w4a8_dynamic, save/utils/pack.py
// process_scale with tp 16): W_deq[i, j] = Wq[i, j] · weight_scale[i]; q/k/v/gate/up get 8 · Σ_j W_deq[i, j]
// as [out, 1]; o_proj/down_proj split each row into 16 consecutive slices of in/16 columns, 8 · Σ per slice,
// as [out, 16]. Hand-derived:
//   up_proj, Wq = [[1, -2, 3, 7], [-8, 0, 5, -1]], scale [0.5, 0.25]:
//     row 0: (1 - 2 + 3 + 7) · 0.5 = 4.5 → 36;  row 1: (-8 + 0 + 5 - 1) · 0.25 = -1 → -8
//   down_proj, in = 32 (slices of 2 columns), scale [0.5, 0.25]:
//     row 0 all 1: every slice (1 + 1) · 0.5 · 8 = 8
//     row 1 = 7 at columns 0 and 1, -8 at column 31, else 0: slice 0 = 14 · 0.25 · 8 = 28,
//     slice 15 = -8 · 0.25 · 8 = -16, slices 1..14 = 0
TEST_CASE("W4A8_DYNAMIC scale_bias: hand-derived column- and row-parallel values") {
  test::ToyBlock column("model.layers.0", 4, 2, 3);  // up_proj [2, 4]
  column.up().set_quantized(w4a8({1, -2, 3, 7, -8, 0, 5, -1}, 4, {0.5f, 0.25f}));
  const at::Tensor up_bias =
      find(ascendv1::linear_tensors(column.up(), at::kBFloat16), "model.layers.0.mlp.up_proj.scale_bias");
  REQUIRE(up_bias.sizes() == at::IntArrayRef({2, 1}));
  CHECK(up_bias[0][0].item<float>() == 36.0f);
  CHECK(up_bias[1][0].item<float>() == -8.0f);

  std::vector<int> rows(64, 0);
  for (int j = 0; j < 32; ++j) rows[j] = 1;
  rows[32] = rows[33] = 7;
  rows[63] = -8;
  test::ToyBlock row("model.layers.0", 2, 32, 3);  // down_proj [2, 32]
  row.down().set_quantized(w4a8(rows, 32, {0.5f, 0.25f}));
  const at::Tensor down_bias =
      find(ascendv1::linear_tensors(row.down(), at::kBFloat16), "model.layers.0.mlp.down_proj.scale_bias");
  REQUIRE(down_bias.sizes() == at::IntArrayRef({2, 16}));
  for (int t = 0; t < 16; ++t) {
    CAPTURE(t);
    CHECK(down_bias[0][t].item<float>() == 8.0f);
    CHECK(down_bias[1][t].item<float>() == (t == 0 ? 28.0f : t == 15 ? -16.0f : 0.0f));
  }
}

// ---- issue 11: integer narrowing, tied embeddings, vllm-ascend's rules (config time and save time) ----

namespace {
// A hand-built W8A8 static linear, 4 → 2: row 0 all-zero integers with a bias, so quant_bias = bias / deq.
QuantizedLinear w8a8_by_hand(double weight_scale, double bias, double input_offset) {
  QuantizedLinear q;
  q.act_mode = ActivationQuantMode::kStaticPerTensor;
  q.qweight = at::tensor({0, 0, 0, 0, 1, -2, 3, -4}, at::kChar).reshape({2, 4});
  q.weight_scale = at::tensor({static_cast<float>(weight_scale), 0.01F});
  q.weight_offset = at::zeros({2});
  q.input_scale = at::tensor({0.001F});
  q.input_offset = at::tensor({static_cast<float>(input_offset)});
  q.bias = at::tensor({static_cast<float>(bias), 0.0F});
  return q;
}

Linear linear_with(const std::string& name, const QuantizedLinear& q) {
  Linear linear(name, at::zeros({q.qweight.size(0), q.qweight.size(1)}));
  linear.set_quantized(std::make_shared<QuantizedLinear>(q));
  return linear;
}

std::string refusal(const PracticeView& view, const std::string& saver_yaml = "{type: ascendv1_saver}") {
  const ascendv1::AscendV1Saver saver(parse_yaml_string(saver_yaml, "s.yaml"));
  try {
    saver.check_practice(view);
  } catch (const Error& error) {
    return std::string(error.what()) + "\nTIP: " + error.tip();
  }
  return "";
}

const char* kW8A8Static =
    "{act: {scope: per_tensor, dtype: int8, symmetric: false}, weight: {scope: per_channel, dtype: int8}}";
const char* kW8A8Dynamic =
    "{act: {scope: per_token, dtype: int8, symmetric: true}, weight: {scope: per_channel, dtype: int8}}";

std::string lq_config(const std::string& qconfig, const std::string& extra = "") {
  return "{type: linear_quant, qconfig: " + qconfig + extra + "}";
}
}  // namespace

TEST_CASE("quant_bias that does not fit int32 is an error naming the tensor, never a wrap") {
  // deq_scale = 0.001 · 1e-9 = 1e-12; quant_bias[0] = 0.5 / 1e-12 = 5e11, past int32's 2.147e9.
  const Linear overflowing = linear_with("model.layers.0.mlp.up_proj", w8a8_by_hand(1e-9, 0.5, 0.0));
  CHECK_THROWS_WITH_AS(ascendv1::linear_tensors(overflowing, at::kBFloat16),
                       doctest::Contains("model.layers.0.mlp.up_proj.quant_bias[0]"), Error);
  // The same row with a scale that keeps it in range: quant_bias[0] = round(0.5 / (0.001 · 0.01)) = 50000.
  const Linear fitting = linear_with("model.layers.0.mlp.up_proj", w8a8_by_hand(0.01, 0.5, 0.0));
  const auto tensors = ascendv1::linear_tensors(fitting, at::kBFloat16);
  CHECK(find(tensors, "model.layers.0.mlp.up_proj.quant_bias")[0].item<std::int32_t>() == 50000);
}

TEST_CASE("input_offset outside int8 (vllm-ascend's parameter type) is an error naming the tensor") {
  const Linear linear = linear_with("model.layers.0.mlp.up_proj", w8a8_by_hand(0.01, 0.0, 200.0));
  CHECK_THROWS_WITH_AS(ascendv1::linear_tensors(linear, at::kBFloat16),
                       doctest::Contains("model.layers.0.mlp.up_proj.input_offset"), Error);
}

TEST_CASE("int4 values outside [-8, 7] are refused instead of wrapping into another nibble") {
  const at::Tensor values = at::tensor({1, 8, -3, 2}, at::kChar).reshape({2, 2});  // 8 would read as -8
  CHECK_THROWS_WITH_AS(ascendv1::pack_int4_pairs_along_rows(values), doctest::Contains("[-8, 7]"), Error);
  CHECK_THROWS_WITH_AS(ascendv1::pack_int4_pairs_along_columns(values), doctest::Contains("[-8, 7]"), Error);
}

TEST_CASE("tied embeddings: the description lists lm_head.weight as FLOAT with the embedding's values") {
  test::TempDir dir("ascend-tied");
  const auto model = dir / "model";
  std::filesystem::create_directories(model);
  const nlohmann::json hf = test::llama_config({{"tie_word_embeddings", true}});
  test::write_text(model / "config.json", hf.dump());
  const auto out = dir / "out";
  std::filesystem::create_directories(out);
  test::ConfigOnlyAdapter adapter(at::kFloat, hf);
  ascendv1::AscendV1Saver saver(parse_yaml_string("{type: ascendv1_saver}", "s.yaml"));
  saver.begin({out, model, adapter, nullptr});
  test::LlamaNamedBlock block;
  saver.save_block(block);
  at::manual_seed(2);
  const at::Tensor embedding = at::randn({29, 8});
  saver.finish({{"model.embed_tokens.weight", embedding}, {"model.norm.weight", at::ones({8})}});
  const auto description = read_json_file(out / "quant_model_description.json");
  REQUIRE(description.contains("lm_head.weight"));
  CHECK(description["lm_head.weight"] == "FLOAT");
  const auto saved = SafetensorsCheckpoint::open_dir(out);
  CHECK(at::equal(saved.load("lm_head.weight"), embedding));
}

TEST_CASE("vllm-ascend rules at config time: forms it cannot load are refused naming saver and processor") {
  const nlohmann::json hf = test::llama_config();
  struct Case {
    std::string process;
    std::string expected;  // empty: allowed
  };
  const std::vector<Case> cases = {
      {"[" + lq_config(kW8A8Static) + "]", ""},
      {"[" + lq_config(kW8A8Dynamic) + "]", ""},
      {"[" + lq_config("{weight: {scope: per_channel, dtype: int8}}") + "]", ""},
      {"[" + lq_config("{weight: {scope: per_group, dtype: int4, ext: {group_size: 32}}}") + "]",
       "W4A16 is registered for MoE layers only"},
      {"[" + lq_config("{weight: {scope: per_channel, dtype: int4}}") + "]", "W4A16"},
      {"[" + lq_config("{act: {scope: per_token, dtype: int8}, weight: {scope: per_channel, dtype: int4}}") +
           "]",
       "W4A8_DYNAMIC"},
      {"[" + lq_config("{weight: {scope: per_group, dtype: int8, ext: {group_size: 32}}}") + "]",
       "per-group scales fail the loader's shape check"},
      {"[" + lq_config("{weight: {scope: per_channel, dtype: int8, symmetric: false}}") + "]",
       "(w + offset)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.process);
    const std::string message = refusal(test::practice_view(c.process, hf));
    if (c.expected.empty()) {
      CHECK(message.empty());
      continue;
    }
    CHECK_MESSAGE(message.find("ascendv1_saver") != std::string::npos, message);
    CHECK_MESSAGE(message.find("spec.process.0 (linear_quant)") != std::string::npos, message);
    CHECK_MESSAGE(message.find(c.expected) != std::string::npos, message);
    CHECK_MESSAGE(message.find("engine: none") != std::string::npos, message);
    // The opt-out writes the reference's layout anyway.
    CHECK(refusal(test::practice_view(c.process, hf), "{type: ascendv1_saver, engine: none}").empty());
  }
}

TEST_CASE("vllm-ascend rules at config time: asymmetric smoothing only where the engine keeps the biases") {
  const std::string asym = "{type: iter_smooth, alpha: 0.5, symmetric: false}";
  // W8A8 folds the new linear biases into quant_bias and AscendRMSNorm adds the norm bias: allowed.
  CHECK(refusal(test::practice_view("[" + asym + ", " + lq_config(kW8A8Static) + "]", test::llama_config()))
            .empty());
  // W8A8_DYNAMIC adds the model's own bias parameter, which Llama does not have.
  const std::string dynamic =
      refusal(test::practice_view("[" + asym + ", " + lq_config(kW8A8Dynamic) + "]", test::llama_config()));
  CHECK(dynamic.find("ascendv1_saver: spec.process.0 (iter_smooth)") != std::string::npos);
  CHECK(dynamic.find("model.layers.0.self_attn.q_proj") != std::string::npos);
  CHECK(dynamic.find("use symmetric: true") != std::string::npos);
  // A layer left in float keeps its bias only if the model has one.
  const std::string fallback = refusal(
      test::practice_view("[" + asym + ", " + lq_config(kW8A8Static, ", exclude: ['*layers.1.mlp*']") + "]",
                          test::llama_config()));
  CHECK(fallback.find("model.layers.1.mlp.gate_proj") != std::string::npos);
  CHECK(fallback.find("the layer stays float") != std::string::npos);
  // Qwen2 has real q/k/v biases (but none on gate/up): smoothing only input_layernorm is fine with dynamic.
  const nlohmann::json qwen2 = test::llama_config({{"model_type", "qwen2"}});
  const std::string attention_only = "{type: iter_smooth, symmetric: false, include: ['*input_layernorm']}";
  CHECK(refusal(test::practice_view("[" + attention_only + ", " + lq_config(kW8A8Dynamic) + "]", qwen2))
            .empty());
  CHECK(refusal(test::practice_view("[" + asym + ", " + lq_config(kW8A8Dynamic) + "]", qwen2))
            .find("mlp.gate_proj") != std::string::npos);
  // Inside a group, and symmetric smoothing, are seen as such.
  CHECK_FALSE(
      refusal(test::practice_view("[{type: group, configs: [" + asym + ", " + lq_config(kW8A8Dynamic) + "]}]",
                                  test::llama_config()))
          .empty());
  CHECK(refusal(test::practice_view("[{type: iter_smooth}, " + lq_config(kW8A8Dynamic) + "]",
                                    test::llama_config()))
            .empty());
}

TEST_CASE("vllm-ascend rules at config time: the parts of q/k/v and gate/up get one type") {
  // A part left out by the include list (not an exclusion) splits the module.
  const std::string split = refusal(
      test::practice_view("[" + lq_config(kW8A8Dynamic, ", include: ['*q_proj', '*v_proj', '*mlp.*']") + "]",
                          test::llama_config()));
  CHECK(split.find("model.layers.0.self_attn.qkv_proj is one fused module") != std::string::npos);
  CHECK(split.find("k_proj: float") != std::string::npos);
  // An exclusion of one part extends to its siblings (linear_quant does the same on the block).
  CHECK(refusal(test::practice_view(
                    "[" + lq_config(kW8A8Dynamic, ", exclude: ['*layers.1.self_attn.k_proj']") + "]",
                    test::llama_config()))
            .empty());
  // ... but not into another config's explicit choice: k is W8A8 there, q and v W8A8_DYNAMIC here.
  const std::string explicit_split = refusal(
      test::practice_view("[" + lq_config(kW8A8Dynamic, ", exclude: ['*k_proj']") + ", " +
                              lq_config(kW8A8Static, ", include: ['*layers.1.self_attn.k_proj']") + "]",
                          test::llama_config()));
  CHECK(explicit_split.find("model.layers.1.self_attn.qkv_proj is one fused module") != std::string::npos);
  const std::string mixed = refusal(test::practice_view(
      "[" + lq_config(kW8A8Dynamic) + ", " + lq_config(kW8A8Static, ", include: ['*up_proj']") + "]",
      test::llama_config()));
  CHECK(mixed.find("gate_up_proj is one fused module") != std::string::npos);
  // Excluding a whole fused module (or o_proj alone) is fine.
  CHECK(
      refusal(test::practice_view("[" + lq_config(kW8A8Dynamic, ", exclude: ['*layers.1.self_attn.*']") + "]",
                                  test::llama_config()))
          .empty());
  CHECK(refusal(test::practice_view("[" + lq_config(kW8A8Dynamic, ", exclude: ['*o_proj']") + "]",
                                    test::llama_config()))
            .empty());
}

TEST_CASE("vllm-ascend rules at save time: a dropped bias or a split fused module fails before writing") {
  const auto run = [](test::LlamaNamedBlock& block, const nlohmann::json& hf, const std::string& saver_yaml) {
    test::TempDir dir("ascend-block");
    test::ConfigOnlyAdapter adapter(at::kFloat, hf);
    ascendv1::AscendV1Saver saver(parse_yaml_string(saver_yaml, "s.yaml"));
    saver.begin({dir.path(), dir.path(), adapter, nullptr});
    saver.save_block(block);
  };
  {
    test::LlamaNamedBlock block;
    block.linear("mlp.up_proj").bias() = at::ones({8});  // Llama's MLP has no bias parameter
    CHECK_THROWS_WITH_AS(run(block, test::llama_config(), "{type: ascendv1_saver}"),
                         doctest::Contains("model.layers.0.mlp.up_proj.bias would be dropped"), Error);
    CHECK_NOTHROW(run(block, test::llama_config({{"mlp_bias", true}}), "{type: ascendv1_saver}"));
    CHECK_NOTHROW(run(block, test::llama_config(), "{type: ascendv1_saver, engine: none}"));
  }
  {
    test::LlamaNamedBlock block;
    QuantizedLinear q = w8a8_by_hand(0.01, 0.0, 0.0);
    q.qweight = at::zeros({8, 8}, at::kChar);
    q.weight_scale = at::full({8}, 0.01F);
    q.weight_offset = at::zeros({8});
    q.bias.reset();
    block.linear("self_attn.q_proj").set_quantized(std::make_shared<QuantizedLinear>(q));
    CHECK_THROWS_WITH_AS(run(block, test::llama_config(), "{type: ascendv1_saver}"),
                         doctest::Contains("qkv_proj is one fused module"), Error);
    for (const char* part : {"self_attn.k_proj", "self_attn.v_proj"})
      block.linear(part).set_quantized(std::make_shared<QuantizedLinear>(q));
    CHECK_NOTHROW(run(block, test::llama_config(), "{type: ascendv1_saver}"));
  }
}

// quant_bias's Σ_j Wq[i, j]: a vectorized int32 loop, checked against ATen's float64 sums (exact: every
// partial sum is an integer far below 2^53) on rows that reach the extremes and a length that leaves a
// remainder after any vector width; a transposed (non-contiguous) view sums its own rows.
TEST_CASE("exact_row_sums: equals float64 sums at the int8 extremes, any row length, any layout") {
  at::manual_seed(5);
  const std::int64_t columns = 11008 + 13;
  at::Tensor q = at::randint(-128, 128, {6, columns}).to(at::kChar);
  q[0].fill_(-128);
  q[1].fill_(127);
  const auto reference = [](const at::Tensor& t) { return t.to(at::kDouble).sum(1).to(at::kLong); };
  CHECK(at::equal(ascendv1::exact_row_sums(q), reference(q)));
  CHECK(ascendv1::exact_row_sums(q)[0].item<std::int64_t>() == -128 * columns);
  const at::Tensor transposed = at::randint(-128, 128, {37, 5}).to(at::kChar).t();
  CHECK(at::equal(ascendv1::exact_row_sums(transposed), reference(transposed)));
  CHECK_THROWS_AS(ascendv1::exact_row_sums(at::zeros({2, 2}, at::kInt)), Error);
}
