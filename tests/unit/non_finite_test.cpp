// NaN and ±Inf are found wherever they would become a scale: the exponent-bit scan for every float dtype,
// checkpoint tensors as they are read, weight quantization, and the calibration observers (linear_quant,
// smoothing) with the block and the sample named by the forward.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "linear_quant_processor.hpp"
#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"
#include "modelslim/quant_math.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/smoothing.hpp"
#include "support/test_support.hpp"
#include "support/toy_block.hpp"

using namespace modelslim;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string required_error(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("expected an Error");
  return {};
}

using modelslim::test::contains;

}  // namespace

TEST_CASE("find_non_finite: every float dtype, the first bad index, none among extreme finite values") {
  for (const at::ScalarType dtype : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16}) {
    CAPTURE(dtype);
    // The largest finite value, the smallest subnormal, zero and negative zero are all finite.
    const double largest = dtype == at::kHalf       ? 65504.0
                           : dtype == at::kBFloat16 ? 3.3895313892515355e38
                                                    : 1e38;
    at::Tensor values = at::tensor({largest, -largest, 1e-40, 0.0, -0.0, 1.5}, at::kDouble).to(dtype);
    // 10000 elements: the scan works in blocks of 4096, so index 9000 sits in the third block.
    values = at::cat({values, at::zeros({9994}, dtype)});
    CHECK_FALSE(find_non_finite(values).has_value());
    for (const double bad : {kNaN, kInf, -kInf}) {
      at::Tensor planted = values.clone();
      planted[9000] = bad;
      planted[9500] = bad;
      const auto found = find_non_finite(planted);
      REQUIRE(found.has_value());
      CHECK(*found == 9000);
    }
  }
  CHECK_FALSE(find_non_finite(at::arange(10, at::kLong)).has_value());
  // Strided input: the index is in the tensor's own (row-major) order.
  const at::Tensor matrix = at::zeros({3, 4});
  matrix[2][1] = kNaN;
  const at::Tensor transposed = matrix.t();  // [4, 3]; element [1, 2]
  const auto found = find_non_finite(transposed);
  REQUIRE(found.has_value());
  CHECK(*found == 1 * 3 + 2);
  CHECK(describe_non_finite(transposed, *found) == "nan at [1, 2]");
  const at::Tensor row = at::zeros({5});
  row[3] = -kInf;
  CHECK(describe_non_finite(row, 3) == "-inf at [3]");
}

TEST_CASE("find_non_finite agrees with std::isfinite on every bf16 and fp16 bit pattern and float32 edges") {
  // Each 16-bit pattern alone (index 0 when non-finite) and all of them in one tensor (the first bad index),
  // classified independently by widening to float and asking std::isfinite.
  for (const at::ScalarType dtype : {at::kBFloat16, at::kHalf}) {
    CAPTURE(dtype);
    std::vector<std::uint16_t> patterns(1 << 16);
    std::int64_t first_bad = -1;
    int disagreements = 0;
    for (std::uint32_t bits = 0; bits < patterns.size(); ++bits) {
      const auto pattern = static_cast<std::uint16_t>(bits);
      patterns[bits] = pattern;
      const float value = dtype == at::kBFloat16
                              ? static_cast<float>(c10::BFloat16(pattern, c10::BFloat16::from_bits()))
                              : static_cast<float>(c10::Half(pattern, c10::Half::from_bits()));
      const bool reported = find_non_finite(&pattern, 1, dtype).has_value();
      disagreements += reported == std::isfinite(value) ? 1 : 0;
      if (first_bad < 0 && !std::isfinite(value)) first_bad = bits;
    }
    CHECK(disagreements == 0);
    const auto found = find_non_finite(patterns.data(), static_cast<std::int64_t>(patterns.size()), dtype);
    REQUIRE(found.has_value());
    CHECK(*found == first_bad);
  }
  // float32: the patterns around the exponent boundary, both signs, and a block of 4096 ending in a NaN.
  std::vector<float> edges;
  for (const std::uint32_t magnitude : {0x7F7FFFFFU, 0x7F800000U, 0x7F800001U, 0x7FC00000U, 0x7FFFFFFFU,
                                        0x00000001U, 0x3F800000U, 0x7F000000U}) {
    for (const std::uint32_t sign : {0U, 0x80000000U}) {
      const std::uint32_t bits = magnitude | sign;
      float value = 0;
      std::memcpy(&value, &bits, sizeof value);
      edges.push_back(value);
    }
  }
  for (const float value : edges) {
    CAPTURE(value);
    CHECK(find_non_finite(&value, 1, at::kFloat).has_value() == !std::isfinite(value));
  }
  std::vector<float> block(4096, 1.0F);
  block.back() = std::numeric_limits<float>::quiet_NaN();
  const auto last = find_non_finite(block.data(), static_cast<std::int64_t>(block.size()), at::kFloat);
  REQUIRE(last.has_value());
  CHECK(*last == 4095);
}

TEST_CASE("a checkpoint tensor holding NaN or Inf is refused when read, naming the file and the tensor") {
  test::TempDir dir("non-finite-safetensors");
  const auto file = dir / "model.safetensors";
  at::Tensor bad = at::randn({4, 6}).to(at::kBFloat16);
  bad[2][5] = kInf;
  // 300k floats: the copy is checked a chunk (1 MiB) at a time; the NaN sits in the second chunk.
  at::Tensor large = at::randn({300000});
  large[290000] = kNaN;
  save_safetensors(file, {{"fine", at::ones({3})}, {"layer.weight", bad}, {"big", large}});
  const auto opened = SafetensorsFile::open(file);
  CHECK(at::equal(opened->load("fine"), at::ones({3})));
  const std::string message = required_error([&] { opened->load("layer.weight"); });
  CHECK(contains(message, file.string()));
  CHECK(contains(message, "'layer.weight' holds inf at [2, 5]"));
  CHECK(contains(required_error([&] { opened->load("big"); }), "'big' holds nan at [290000]"));
}

TEST_CASE("weight quantization refuses NaN and Inf before any integer cast") {
  for (const double value : {kNaN, kInf, -kInf}) {
    at::Tensor weight = at::randn({8, 16});
    weight[5][9] = value;
    CHECK(contains(required_error([&] { quantize_weight_minmax(weight, 8, true, 0); }), "at [5, 9]"));
    CHECK(contains(required_error([&] { quantize_weight_minmax(weight, 4, false, 8); }), "at [5, 9]"));
    CHECK(contains(required_error([&] { quantize_weight_ssz(weight, 8, true, 3); }), "at [5, 9]"));
  }
}

TEST_CASE("linear_quant names the weight tensor, and the linear, block and sample for an activation") {
  const ConfigNode config = parse_yaml_string(R"(process:
  - type: linear_quant
    qconfig:
      act: {scope: per_tensor, dtype: int8, symmetric: false}
      weight: {scope: per_channel, dtype: int8}
)",
                                              "practice.yaml")["process"]
                                .at(0);
  const auto context = std::make_shared<test::ToyContext>();
  std::vector<BlockInput> inputs;
  for (int i = 0; i < 3; ++i) inputs.push_back({at::randn({1, 4, 8}), context});

  SUBCASE("a NaN weight (e.g. produced by an earlier processor)") {
    test::ToyBlock block("model.layers.2", 8, 16, 3);
    block.down().weight()[1][4] = kNaN;
    // Weight-only: no forward, whose output check would report the NaN first.
    linear_quant::LinearQuantProcessor processor(parse_yaml_string(R"(process:
  - type: linear_quant
    qconfig: {weight: {scope: per_channel, dtype: int8}}
)",
                                                                   "practice.yaml")["process"]
                                                     .at(0));
    BlockRequest request{block.name(), block, inputs, {}, 0};
    processor.preprocess(request);
    processor.process(request);
    const std::string message = required_error([&] { processor.postprocess(request); });
    CHECK(contains(message, "model.layers.2.mlp.down_proj.weight"));
    CHECK(contains(message, "nan at [1, 4]"));
  }
  SUBCASE("an activation that is inf in the third sample only") {
    test::ToyBlock block("model.layers.2", 8, 16, 3);
    inputs[2].hidden[0][1][3] = kInf;
    linear_quant::LinearQuantProcessor processor(config);
    BlockRequest request{block.name(), block, inputs, {}, 0};
    processor.preprocess(request);
    const std::string message = required_error([&] { processor.process(request); });
    CHECK(contains(message, "block model.layers.2, calibration sample 3 (counting from 1)"));
    CHECK(contains(message, "the input of model.layers.2.mlp.up_proj holds non-finite values"));
  }
  SUBCASE("an activation that is NaN in the second sample only") {
    // The observer's one-pass range (aminmax) must carry a NaN into the range, as min() and max() do.
    test::ToyBlock block("model.layers.2", 8, 16, 3);
    inputs[1].hidden[0][2][5] = kNaN;
    linear_quant::LinearQuantProcessor processor(config);
    BlockRequest request{block.name(), block, inputs, {}, 0};
    processor.preprocess(request);
    const std::string message = required_error([&] { processor.process(request); });
    CHECK(contains(message, "block model.layers.2, calibration sample 2 (counting from 1)"));
    CHECK(contains(message, "the input of model.layers.2.mlp.up_proj holds non-finite values"));
  }
}

TEST_CASE("smoothing's channel observer refuses a non-finite channel, naming the linear and the channel") {
  test::ToyBlock block("model.layers.0", 8, 16, 3);
  ChannelRangeObserver observer(block.up());
  block.up().forward(at::randn({1, 4, 8}));
  CHECK(observer.seen());
  at::Tensor bad = at::randn({1, 4, 8});
  bad[0][2][6] = kNaN;
  const std::string message = required_error([&] { block.up().forward(bad); });
  CHECK(contains(message, "the input of model.layers.0.mlp.up_proj holds non-finite values in channel 6"));
}

TEST_CASE("a block output that overflows is refused even when no observer looks at it") {
  test::ToyBlock block("model.layers.1", 8, 16, 3);
  // Finite weights, an output past float's range: ~1e24 after up_proj, times ~1e24 in down_proj.
  block.up().weight().mul_(1e25);
  block.down().weight().mul_(1e25);
  const auto context = std::make_shared<test::ToyContext>();
  const std::vector<BlockInput> inputs = {{at::randn({1, 4, 8}), context}};
  BlockRequest request{block.name(), block, inputs, {}, 0};
  const std::string message = required_error([&] { run_block_forward(request); });
  CHECK(contains(message,
                 "block model.layers.1, calibration sample 1 (counting from 1): the block output holds"));
  CHECK(contains(message, "inf at [0, "));
}
