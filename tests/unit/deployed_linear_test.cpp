// The builtin evaluator's deployed arithmetic (plugins/builtin_evaluator/deployed_linear.cpp) on tiny saved
// linears whose outputs are worked out by hand below, one per ascendv1 type the savers write.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>

#include "modelslim/deployed_model.hpp"
#include "modelslim/error.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;

namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

// Saves `tensors` as one checkpoint and runs `tokens` ([T, in] floats) through module "m" of type `type`.
at::Tensor deployed_linear_run(const Tensors& tensors, const std::string& type,
                               const std::vector<std::vector<float>>& tokens) {
  test::TempDir dir("deployed-linear");
  save_safetensors(dir / "quant_model_weights.safetensors", tensors);
  const auto saved = SafetensorsCheckpoint::open_dir(dir.path());
  const auto compute = eval::make_deployed_linear(saved, "m", type);
  std::vector<float> flat;
  for (const auto& token : tokens) flat.insert(flat.end(), token.begin(), token.end());
  const at::Tensor x =
      at::tensor(flat, at::kFloat).reshape({1, static_cast<std::int64_t>(tokens.size()), -1});
  const Linear linear("m", at::zeros({1, x.size(2)}));
  const at::Tensor y = compute->forward(linear, x);
  CHECK((y.scalar_type() == at::kFloat));
  return y.reshape({static_cast<std::int64_t>(tokens.size()), -1}).to(at::kDouble);
}

void check_outputs(const at::Tensor& y, const std::vector<std::vector<double>>& expected, double tolerance) {
  REQUIRE(y.size(0) == static_cast<std::int64_t>(expected.size()));
  for (std::size_t t = 0; t < expected.size(); ++t) {
    REQUIRE(y.size(1) == static_cast<std::int64_t>(expected[t].size()));
    for (std::size_t o = 0; o < expected[t].size(); ++o) {
      CAPTURE(t);
      CAPTURE(o);
      CHECK(y[t][o].item<double>() == doctest::Approx(expected[t][o]).epsilon(tolerance));
    }
  }
}

at::Tensor int8s(const std::vector<int>& values, std::vector<std::int64_t> shape) {
  return at::tensor(values, at::kInt).to(at::kChar).reshape(shape);
}
at::Tensor floats(std::vector<float> values, std::vector<std::int64_t> shape) {
  return at::tensor(values, at::kFloat).reshape(shape);
}

}  // namespace

// Weights Wq = [[1, -2, 3], [4, 0, -1]], input_scale 0.5, input_offset 1, deq_scale [0.25, 0.125],
// quant_bias [3, -2]; xq = clamp(round(x / 0.5 + 1), -128, 127), y = deq_scale · (Wq·xq + quant_bias).
//   x = [1, -0.6, 2.2]:   x/0.5 + 1 = [3, -0.2, 5.4] → xq = [3, 0, 5]
//                         row 0: 3 + 0 + 15 = 18, + 3 = 21, · 0.25 = 5.25
//                         row 1: 12 + 0 - 5 = 7,  - 2 = 5,  · 0.125 = 0.625
//   x = [100, -100, 0]:   [201, -199, 1] clamps to xq = [127, -128, 1]
//                         row 0: 127 + 256 + 3 = 386, + 3 = 389, · 0.25 = 97.25
//                         row 1: 508 + 0 - 1 = 507,   - 2 = 505, · 0.125 = 63.125
TEST_CASE("W8A8: activation quantization with offset and clamp, integer product, quant_bias, deq_scale") {
  const std::vector<std::vector<float>> x = {{1.0f, -0.6f, 2.2f}, {100.0f, -100.0f, 0.0f}};
  const std::vector<std::vector<double>> expected = {{5.25, 0.625}, {97.25, 63.125}};
  Tensors tensors = {{"m.weight", int8s({1, -2, 3, 4, 0, -1}, {2, 3})},
                     {"m.input_scale", floats({0.5f}, {1})},
                     {"m.input_offset", floats({1.0f}, {1})},
                     {"m.quant_bias", at::tensor({3, -2}, at::kInt)}};
  SUBCASE("bf16 models: deq_scale as float32") {
    tensors.emplace_back("m.deq_scale", floats({0.25f, 0.125f}, {2}));
    check_outputs(deployed_linear_run(tensors, "W8A8", x), expected, 1e-12);
  }
  SUBCASE("fp16/fp32 models: deq_scale as the float32 bit pattern in int64") {
    // IEEE-754 single: 0.25 = 2^-2 → exponent 125 → 0x3E800000; 0.125 = 2^-3 → exponent 124 → 0x3E000000.
    tensors.emplace_back("m.deq_scale",
                         at::tensor({std::int64_t{0x3E800000}, std::int64_t{0x3E000000}}, at::kLong));
    check_outputs(deployed_linear_run(tensors, "W8A8", x), expected, 1e-12);
  }
}

// Wq = [[1, -2, 3], [4, 0, -1]], weight_scale [0.5, 0.25], bias [0.5, -1]; per token s = max|x| / 127,
// xq = round(x / s), y = s · weight_scale · (Wq·xq) + bias.
//   x = [1.27, -0.6, 0.254]: s = 0.01, xq = [127, -60, 25]
//   row 0: 127 + 120 + 75 = 322 → 322 · 0.01 · 0.5 + 0.5 = 2.11
//   row 1: 508 + 0 - 25 = 483   → 483 · 0.01 · 0.25 - 1 = 0.2075
TEST_CASE("W8A8_DYNAMIC: per-token activation scale, per-channel weight scale, float bias") {
  const Tensors tensors = {{"m.weight", int8s({1, -2, 3, 4, 0, -1}, {2, 3})},
                           {"m.weight_scale", floats({0.5f, 0.25f}, {2, 1})},
                           {"m.weight_offset", floats({0.0f, 0.0f}, {2, 1})},
                           {"m.bias", floats({0.5f, -1.0f}, {2})}};
  // s is max|x| / 127 in float32 (1.27f / 127 ≠ 0.01 exactly): relative 1e-6.
  check_outputs(deployed_linear_run(tensors, "W8A8_DYNAMIC", {{1.27f, -0.6f, 0.254f}}), {{2.11, 0.2075}},
                1e-6);
}

// W4A8_DYNAMIC packs output rows 2m (low nibble) and 2m+1 (high nibble), signed. Wq = [[1, -2, 3, -8],
// [7, 0, -1, 5]] → bytes (7<<4 | 1) = 0x71 = 113, (0<<4 | 0xE) = 14, (0xF<<4 | 3) = 0xF3 = -13,
// (5<<4 | 0x8) = 0x58 = 88. weight_scale [0.5, 0.25].
//   x = [1.27, 0.5, -0.3, 0]: s = 0.01, xq = [127, 50, -30, 0]
//   row 0: 127 - 100 - 90 + 0 = -63 → -63 · 0.01 · 0.5 = -0.315
//   row 1: 889 + 0 + 30 + 0 = 919  → 919 · 0.01 · 0.25 = 2.2975
TEST_CASE("W4A8_DYNAMIC: row-pair int4 unpacking, then the per-token arithmetic") {
  const Tensors tensors = {{"m.weight", int8s({113, 14, -13, 88}, {1, 4})},
                           {"m.weight_scale", floats({0.5f, 0.25f}, {2, 1})},
                           {"m.weight_offset", floats({0.0f, 0.0f}, {2, 1})},
                           {"m.scale_bias", floats({0.0f, 0.0f}, {2, 1})}};
  check_outputs(deployed_linear_run(tensors, "W4A8_DYNAMIC", {{1.27f, 0.5f, -0.3f, 0.0f}}),
                {{-0.315, 2.2975}}, 1e-6);
}

// W8A16: W = (Wq - weight_offset) · weight_scale, y = x·Wᵀ (float activations).
TEST_CASE("W8A16: per-channel and per-group dequantization with offsets") {
  const at::Tensor wq = int8s({1, -2, 3, 4, -5, 6, 7, -8}, {2, 4});
  SUBCASE("per channel: scale [0.5, 0.25], offset [0, 1]") {
    // row 0: [0.5, -1, 1.5, 2]           · [1, 2, 3, 4] = 0.5 - 2 + 4.5 + 8 = 11
    // row 1: [-6, 5, 6, -9] · 0.25 = [-1.5, 1.25, 1.5, -2.25] → -1.5 + 2.5 + 4.5 - 9 = -3.5
    const Tensors tensors = {{"m.weight", wq},
                             {"m.weight_scale", floats({0.5f, 0.25f}, {2, 1})},
                             {"m.weight_offset", floats({0.0f, 1.0f}, {2, 1})}};
    check_outputs(deployed_linear_run(tensors, "W8A16", {{1, 2, 3, 4}}), {{11.0, -3.5}}, 1e-12);
  }
  SUBCASE("groups of 2: scale [[0.5, 0.25], [1, 2]], offset [[1, 0], [0, -2]]") {
    // row 0: [(1-1)·0.5, (-2-1)·0.5, 3·0.25, 4·0.25] = [0, -1.5, 0.75, 1] → 0 - 3 + 2.25 + 4 = 3.25
    // row 1: [-5, 6, (7+2)·2, (-8+2)·2] = [-5, 6, 18, -12]             → -5 + 12 + 54 - 48 = 13
    const Tensors tensors = {{"m.weight", wq},
                             {"m.weight_scale", floats({0.5f, 0.25f, 1.0f, 2.0f}, {2, 2})},
                             {"m.weight_offset", floats({1.0f, 0.0f, 0.0f, -2.0f}, {2, 2})}};
    check_outputs(deployed_linear_run(tensors, "W8A16", {{1, 2, 3, 4}}), {{3.25, 13.0}}, 1e-12);
  }
}

// W4A16, Wq = [[1, -2, 3, -8], [7, 0, -1, 5]].
TEST_CASE("W4A16: column-pair (per channel) and row-pair (per group) int4 layouts") {
  SUBCASE("per channel: input columns paired, [out, in/2]") {
    // row 0: (-2 → 0xE)<<4 | 1 = 0xE1 = -31; (-8 → 0x8)<<4 | 3 = 0x83 = -125
    // row 1: 0<<4 | 7 = 7; 5<<4 | (-1 → 0xF) = 0x5F = 95
    // scale [0.5, 0.25]: W = [[0.5, -1, 1.5, -4], [1.75, 0, -0.25, 1.25]]
    // x = [1, 2, 3, 4]: row 0: 0.5 - 2 + 4.5 - 16 = -13; row 1: 1.75 + 0 - 0.75 + 5 = 6
    const Tensors tensors = {{"m.weight", int8s({-31, -125, 7, 95}, {2, 2})},
                             {"m.weight_scale", floats({0.5f, 0.25f}, {2, 1})},
                             {"m.weight_offset", floats({0.0f, 0.0f}, {2, 1})}};
    check_outputs(deployed_linear_run(tensors, "W4A16", {{1, 2, 3, 4}}), {{-13.0, 6.0}}, 1e-12);
  }
  SUBCASE("groups of 2: output rows paired, [out/2, in], asymmetric") {
    // bytes as in the W4A8_DYNAMIC case: [113, 14, -13, 88]
    // scale [[0.5, 0.25], [1, 2]], offset [[1, 0], [0, -2]]:
    // row 0: [0, (-2-1)·0.5, 3·0.25, -8·0.25] = [0, -1.5, 0.75, -2] → 0 - 3 + 2.25 - 8 = -8.75
    // row 1: [7, 0, (-1+2)·2, (5+2)·2] = [7, 0, 2, 14]             → 7 + 0 + 6 + 56 = 69
    const Tensors tensors = {{"m.weight", int8s({113, 14, -13, 88}, {1, 4})},
                             {"m.weight_scale", floats({0.5f, 0.25f, 1.0f, 2.0f}, {2, 2})},
                             {"m.weight_offset", floats({1.0f, 0.0f, 0.0f, -2.0f}, {2, 2})}};
    check_outputs(deployed_linear_run(tensors, "W4A16", {{1, 2, 3, 4}}), {{-8.75, 69.0}}, 1e-12);
  }
}

TEST_CASE("a type without a deployed arithmetic is refused, naming the module and the type") {
  test::TempDir dir("deployed-linear-unknown");
  save_safetensors(dir / "w.safetensors", {{"m.weight", int8s({1, 2}, {1, 2})}});
  const auto saved = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK_THROWS_WITH_AS(eval::make_deployed_linear(saved, "m", "W4A4_DYNAMIC"),
                       doctest::Contains("'W4A4_DYNAMIC' of m"), Error);
}
