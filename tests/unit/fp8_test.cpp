// float8_e4m3fn checkpoints: every one of the 256 codes against a value computed here from its bit fields
// (and literal spot values), encoding, block-wise dequantization with weight_scale_inv against hand-computed
// blocks (partial edge blocks included), and the errors for NaN codes, missing or misshaped scales.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "modelslim/error.hpp"
#include "modelslim/fp8.hpp"
#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/safetensors.hpp"
#include "support/test_support.hpp"

using namespace modelslim;
namespace fs = std::filesystem;

namespace {

// The e4m3fn definition, in float64: (-1)^s · 2^(e-7) · (1 + m/8) for e > 0, (-1)^s · 2^-6 · m/8 for e = 0,
// NaN for e = 15 and m = 7 (no infinities).
double reference_e4m3(int code) {
  const int sign = (code >> 7) & 1;
  const int exponent = (code >> 3) & 15;
  const int mantissa = code & 7;
  if (exponent == 15 && mantissa == 7) return std::numeric_limits<double>::quiet_NaN();
  const double magnitude = exponent == 0 ? std::pow(2.0, -6) * (mantissa / 8.0)
                                         : std::pow(2.0, exponent - 7) * (1.0 + mantissa / 8.0);
  return sign == 1 ? -magnitude : magnitude;
}

// Writes a safetensors file byte by byte (independent of SafetensorsWriter).
void write_raw_safetensors(const fs::path& file, const std::string& header,
                           const std::vector<std::uint8_t>& data) {
  std::string padded = header;
  padded.append((8 - padded.size() % 8) % 8, ' ');
  std::ofstream out(file, std::ios::binary);
  std::uint64_t length = padded.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((length >> (8 * i)) & 0xff));
  out << padded;
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::vector<std::uint8_t> float_bytes(const std::vector<float>& values) {
  std::vector<std::uint8_t> bytes(values.size() * 4);
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

nlohmann::json fp8_config(std::int64_t rows, std::int64_t cols) {
  return {{"quantization_config",
           {{"quant_method", "fp8"},
            {"fmt", "e4m3"},
            {"activation_scheme", "dynamic"},
            {"weight_block_size", {rows, cols}}}}};
}

}  // namespace

TEST_CASE("every e4m3fn code decodes to the value of its bit fields") {
  int nans = 0;
  for (int code = 0; code < 256; ++code) {
    CAPTURE(code);
    const double expected = reference_e4m3(code);
    const float decoded = e4m3fn_to_float(static_cast<std::uint8_t>(code));
    if (std::isnan(expected)) {
      CHECK(std::isnan(decoded));
      ++nans;
      continue;
    }
    CHECK(static_cast<double>(decoded) == expected);  // exact: every code is a float32
    CHECK(std::signbit(decoded) == (code >= 0x80));
  }
  CHECK(nans == 2);  // 0x7F and 0xFF only: no infinities
}

TEST_CASE("e4m3fn spot values") {
  CHECK(e4m3fn_to_float(0x7E) == 448.0f);
  CHECK(e4m3fn_to_float(0xFE) == -448.0f);
  CHECK(e4m3fn_to_float(0x01) == 0.001953125f);  // 2^-9, the smallest subnormal
  CHECK(e4m3fn_to_float(0x07) == 0.013671875f);  // 7/8 · 2^-6, the largest subnormal
  CHECK(e4m3fn_to_float(0x08) == 0.015625f);     // 2^-6, the smallest normal
  CHECK(e4m3fn_to_float(0x38) == 1.0f);
  CHECK(e4m3fn_to_float(0x39) == 1.125f);
  CHECK(e4m3fn_to_float(0x78) == 256.0f);
  CHECK(e4m3fn_to_float(0xC4) == -3.0f);
  CHECK(std::isnan(e4m3fn_to_float(0x7F)));
  CHECK(std::isnan(e4m3fn_to_float(0xFF)));
  const float negative_zero = e4m3fn_to_float(0x80);
  CHECK(negative_zero == 0.0f);
  CHECK(std::signbit(negative_zero));
  // Positive finite codes increase strictly with the code.
  for (int code = 1; code < 0x7F; ++code) CHECK(e4m3fn_to_float(code) > e4m3fn_to_float(code - 1));

  const std::vector<std::uint8_t> codes = {0x38, 0x7E, 0x01, 0x80, 0xB8, 0x7F};
  std::vector<float> decoded(codes.size());
  decode_e4m3fn(codes.data(), codes.size(), decoded.data());
  CHECK(decoded[0] == 1.0f);
  CHECK(decoded[1] == 448.0f);
  CHECK(decoded[2] == 0.001953125f);
  CHECK(decoded[4] == -1.0f);
  CHECK(std::isnan(decoded[5]));
}

TEST_CASE("e4m3fn encoding rounds to nearest, ties to even, saturating") {
  for (int code = 0; code < 256; ++code) {
    if (code == 0x7F || code == 0xFF) continue;
    CAPTURE(code);
    CHECK(encode_e4m3fn(static_cast<float>(reference_e4m3(code))) == code);
  }
  CHECK(encode_e4m3fn(1.0625f) == 0x38);  // halfway 1.0 / 1.125: the even code 0x38
  CHECK(encode_e4m3fn(1.1875f) == 0x3A);  // halfway 1.125 / 1.25: the even code 0x3A
  CHECK(encode_e4m3fn(1.1f) == 0x39);
  CHECK(encode_e4m3fn(-3.1f) == 0xC4);
  CHECK(encode_e4m3fn(1000.0f) == 0x7E);
  CHECK(encode_e4m3fn(-1000.0f) == 0xFE);
  CHECK(encode_e4m3fn(std::ldexp(1.0f, -10)) == 0x00);  // halfway 0 / 2^-9: the even code 0
  CHECK(encode_e4m3fn(std::ldexp(3.0f, -11)) == 0x01);  // 0.75 · 2^-9: nearest 2^-9
  CHECK(encode_e4m3fn(std::ldexp(3.0f, -10)) == 0x02);  // halfway 2^-9 / 2^-8: the even code 0x02
  CHECK(encode_e4m3fn(std::numeric_limits<float>::quiet_NaN()) == 0x7F);
}

TEST_CASE("block dequantization against a hand-computed 3x5 weight in 2x2 blocks") {
  // Blocks: rows {0,1}, {2} (partial); columns {0,1}, {2,3}, {4} (partial).
  const at::Tensor weight = at::tensor({1.f, 2.f, 3.f, 4.f, 5.f,   //
                                        6.f, 7.f, 8.f, 9.f, 10.f,  //
                                        11.f, 12.f, 13.f, 14.f, 15.f})
                                .reshape({3, 5});
  const at::Tensor scales = at::tensor({1.f, 2.f, 3.f, 10.f, 20.f, 30.f}).reshape({2, 3});
  const at::Tensor expected = at::tensor({1.f, 2.f, 6.f, 8.f, 15.f,    //
                                          6.f, 7.f, 16.f, 18.f, 30.f,  //
                                          110.f, 120.f, 260.f, 280.f, 450.f})
                                  .reshape({3, 5});
  const at::Tensor result = dequantize_fp8_blocks(weight.clone(), scales, {2, 2}, "m.weight");
  CHECK(at::equal(result, expected));

  // 128x128 blocks over a 130x129 weight: the same rule at the default block size.
  const at::Tensor ones = at::ones({130, 129});
  const at::Tensor big_scales = at::tensor({2.f, 3.f, 5.f, 7.f}).reshape({2, 2});
  const at::Tensor big = dequantize_fp8_blocks(ones.clone(), big_scales, {}, "m.weight");
  CHECK(big[0][0].item<float>() == 2.f);
  CHECK(big[127][127].item<float>() == 2.f);
  CHECK(big[127][128].item<float>() == 3.f);
  CHECK(big[128][127].item<float>() == 5.f);
  CHECK(big[129][128].item<float>() == 7.f);

  CHECK_THROWS_WITH_AS(
      dequantize_fp8_blocks(weight.clone(), scales.reshape({3, 2}), {2, 2}, "m.weight"),
      doctest::Contains("'m.weight_scale_inv' has shape [3, 2] but FP8 weight 'm.weight' [3, "
                        "5] in 2x2 blocks needs [2, 3]"),
      Error);
}

TEST_CASE("an F8_E4M3 file written by hand reads decoded, and scaled per block") {
  const test::TempDir dir("fp8-raw");
  // w: 3x3 codes; its scale 2x2 for 2x2 blocks.
  const std::vector<std::uint8_t> codes = {0x38, 0x40, 0xB8, 0x01, 0x7E, 0x08, 0x80, 0x44, 0x39};
  std::vector<std::uint8_t> data = codes;
  data.resize(16, 0);  // the scale starts at byte 16
  const std::vector<float> scales = {0.5f, 2.f, 4.f, -1.f};
  const auto scale_bytes = float_bytes(scales);
  data.insert(data.end(), scale_bytes.begin(), scale_bytes.end());
  write_raw_safetensors(dir / "model.safetensors",
                        R"({"m.weight":{"dtype":"F8_E4M3","shape":[3,3],"data_offsets":[0,9]},)"
                        R"("m.weight_scale_inv":{"dtype":"F32","shape":[2,2],"data_offsets":[16,32]}})",
                        data);
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK(checkpoint.info("m.weight").dtype == "F8_E4M3");

  const at::Tensor raw = checkpoint.load("m.weight");
  REQUIRE((raw.scalar_type() == at::kFloat));
  const at::Tensor loaded = load_float_weight(checkpoint, "m.weight", Fp8BlockSize{2, 2});
  REQUIRE((loaded.sizes() == at::IntArrayRef({3, 3})));
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      const double value = reference_e4m3(codes[r * 3 + c]);
      CHECK(raw[r][c].item<float>() == value);
      CHECK(static_cast<double>(loaded[r][c].item<float>()) ==
            value * scales[(r / 2) * 2 + c / 2]);  // exact: power-of-2 scales
    }
  }
  CHECK(loaded[1][1].item<float>() == 224.f);  // 448 · 0.5

  CHECK_THROWS_WITH_AS(load_float_weight(checkpoint, "m.weight", std::nullopt),
                       doctest::Contains("'m.weight' is stored as F8_E4M3 but config.json has no "
                                         "quantization_config with quant_method \"fp8\""),
                       Error);
  CHECK_THROWS_WITH_AS(load_float_weight(checkpoint, "m.weight", Fp8BlockSize{128, 128}),
                       doctest::Contains("needs [1, 1]"), Error);
  // A non-FP8 tensor is only converted.
  CHECK(at::equal(load_float_weight(checkpoint, "m.weight_scale_inv", Fp8BlockSize{2, 2}),
                  at::tensor(scales).reshape({2, 2})));
}

TEST_CASE("FP8 weights: NaN codes and missing scales are refused naming the tensor") {
  const test::TempDir dir("fp8-errors");
  save_safetensors(dir / "model.safetensors",
                   {{"bad.weight", at::tensor({0x38, 0x38, 0x38, 0xFF}, at::kByte).reshape({2, 2})},
                    {"bad.weight_scale_inv", at::ones({1, 1})},
                    {"bare.weight", at::tensor({0x38, 0x40}, at::kByte).reshape({1, 2})}});
  retype_as_fp8_e4m3(dir / "model.safetensors", {"bad.weight", "bare.weight"});
  const auto checkpoint = SafetensorsCheckpoint::open_dir(dir.path());
  CHECK_THROWS_WITH_AS(load_float_weight(checkpoint, "bad.weight", Fp8BlockSize{}),
                       doctest::Contains("tensor 'bad.weight' holds nan at [1, 1]"), Error);
  CHECK_THROWS_WITH_AS(checkpoint.load("bad.weight"), doctest::Contains("'bad.weight' holds nan at [1, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(load_float_weight(checkpoint, "bare.weight", Fp8BlockSize{}),
                       doctest::Contains("FP8 weight 'bare.weight' has no block scales: the checkpoint lacks "
                                         "'bare.weight_scale_inv'"),
                       Error);
  CHECK(checkpoint.info("bare.weight").dtype == "F8_E4M3");
  CHECK(checkpoint.load("bare.weight")[0][1].item<float>() == 2.0f);
  CHECK_THROWS_WITH_AS(retype_as_fp8_e4m3(dir / "model.safetensors", {"bad.weight_scale_inv"}),
                       doctest::Contains("'bad.weight_scale_inv' must be a U8 tensor"), Error);
}

TEST_CASE("fp8_block_size reads quantization_config") {
  const fs::path file = "/m/config.json";
  CHECK_FALSE(fp8_block_size(nlohmann::json::object(), file).has_value());
  CHECK_FALSE(fp8_block_size({{"quantization_config", {{"quant_method", "gptq"}}}}, file).has_value());
  const auto fallback = fp8_block_size({{"quantization_config", {{"quant_method", "fp8"}}}}, file);
  REQUIRE(fallback.has_value());
  CHECK(fallback->rows == 128);
  CHECK(fallback->cols == 128);
  const auto block = fp8_block_size(fp8_config(64, 32), file);
  REQUIRE(block.has_value());
  CHECK(block->rows == 64);
  CHECK(block->cols == 32);
  nlohmann::json e5m2 = fp8_config(128, 128);
  e5m2["quantization_config"]["fmt"] = "e5m2";
  CHECK_THROWS_WITH_AS(fp8_block_size(e5m2, file),
                       doctest::Contains("/m/config.json: field 'quantization_config.fmt' is \"e5m2\""),
                       Error);
  CHECK_THROWS_WITH_AS(
      fp8_block_size(fp8_config(0, 128), file),
      doctest::Contains("field 'quantization_config.weight_block_size' must be two positive"), Error);
}
