#include "compressed_tensors_layout.hpp"

#include "engine_rules.hpp"
#include "modelslim/error.hpp"

#include <ATen/ATen.h>

namespace modelslim::compressed_tensors {
namespace {

nlohmann::json weight_args(const QuantizedLinear& q) {
  return {{"num_bits", q.weight_bits},
          {"type", "int"},
          {"symmetric", q.weight_symmetric},
          {"strategy", q.group_size > 0 ? "group" : "channel"},
          {"group_size", q.group_size > 0 ? nlohmann::json(q.group_size) : nlohmann::json(nullptr)},
          {"block_structure", nullptr},
          {"dynamic", false},
          {"actorder", nullptr},
          {"observer", "minmax"},
          {"observer_kwargs", nlohmann::json::object()}};
}

nlohmann::json activation_args(const QuantizedLinear& q) {
  const bool dynamic = q.act_mode == ActivationQuantMode::kDynamicPerToken;
  return {{"num_bits", q.act_bits},
          {"type", "int"},
          {"symmetric", q.act_symmetric},
          {"strategy", dynamic ? "token" : "tensor"},
          {"group_size", nullptr},
          {"block_structure", nullptr},
          {"dynamic", dynamic},
          {"actorder", nullptr},
          {"observer", dynamic ? nlohmann::json(nullptr) : nlohmann::json("minmax")},
          {"observer_kwargs", nlohmann::json::object()}};
}

[[noreturn]] void unsupported(const std::string& name, const std::string& form) {
  throw Error(
      ErrorCode::kUnsupported,
      "compressed_tensors saver: " + name + ": " + form + " has no compressed-tensors layout in this version",
      "supported: W8A8 (static per-tensor or dynamic per-token activations, int8 per-channel symmetric "
      "weights) and symmetric weight-only int8/int4 per-channel or per-group (W8A16, W4A16)");
}

}  // namespace

GroupScheme scheme_of(const QuantizedLinear& q, const std::string& name) {
  if (q.act_mode == ActivationQuantMode::kNone) {
    if (!q.weight_symmetric) unsupported(name, "asymmetric weight-only quantization");
    if (q.weight_bits != 4 && q.weight_bits != 8)
      unsupported(name, std::to_string(q.weight_bits) + "-bit weights");
    return {"pack-quantized", weight_args(q), nullptr};
  }
  if (q.weight_bits != 8 || q.group_size > 0 || !q.weight_symmetric) {
    unsupported(name, "quantized activations with weights other than int8 per-channel symmetric");
  }
  if (q.act_mode == ActivationQuantMode::kDynamicPerToken && !q.act_symmetric) {
    unsupported(name, "asymmetric dynamic activations");
  }
  return {"int-quantized", weight_args(q), activation_args(q)};
}

at::Tensor pack_to_int32(const at::Tensor& values, int bits) {
  const std::int64_t per_word = 32 / bits;
  // A code outside [-2^(b-1), 2^(b-1)) would spill into its neighbour's bits.
  if (values.numel() > 0) {
    const auto mn = values.min().item<std::int64_t>();
    const auto mx = values.max().item<std::int64_t>();
    const std::int64_t half = std::int64_t{1} << (bits - 1);
    if (mn < -half || mx >= half) {
      throw Error(ErrorCode::kUnsupported, "compressed_tensors saver: int" + std::to_string(bits) +
                                               " packing: values span [" + std::to_string(mn) + ", " +
                                               std::to_string(mx) + "], outside [" + std::to_string(-half) +
                                               ", " + std::to_string(half - 1) + "]");
    }
  }
  const std::int64_t rows = values.size(0);
  const std::int64_t cols = values.size(1);
  const std::int64_t words = (cols + per_word - 1) / per_word;
  // Unsigned codes in int64 so the shifted sum cannot overflow; the top bit wraps into int32's sign.
  at::Tensor codes = values.to(at::kLong) + (std::int64_t{1} << (bits - 1));
  // compressed-tensors pads the last word with zero codes (not with the zero value).
  if (words * per_word != cols) codes = at::constant_pad_nd(codes, {0, words * per_word - cols}, 0);
  const at::Tensor shifts = at::arange(per_word, at::kLong) * bits;
  const at::Tensor sums = at::bitwise_left_shift(codes.reshape({rows, words, per_word}), shifts).sum(2);
  // Reinterpret the low 32 bits as signed int32 (numpy's uint32 → int32 view in pack_to_int32).
  return at::where(sums >= (std::int64_t{1} << 31), sums - (std::int64_t{1} << 32), sums).to(at::kInt);
}

std::vector<std::pair<std::string, at::Tensor>> quantized_tensors(const QuantizedLinear& q,
                                                                  const std::string& name,
                                                                  at::ScalarType float_dtype) {
  const GroupScheme scheme = scheme_of(q, name);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const at::Tensor scale = q.weight_scale.to(at::kFloat).reshape({q.qweight.size(0), -1}).contiguous();
  if (scheme.format == "pack-quantized") {
    tensors.emplace_back(name + ".weight_packed", pack_to_int32(q.qweight, q.weight_bits));
    tensors.emplace_back(name + ".weight_scale", scale);
    tensors.emplace_back(name + ".weight_shape", at::tensor({q.qweight.size(0), q.qweight.size(1)},
                                                            at::TensorOptions().dtype(at::kLong)));
  } else {
    tensors.emplace_back(
        name + ".weight",
        saver_rules::to_integer_checked(q.qweight, at::kChar, name + ".weight", "compressed_tensors saver"));
    tensors.emplace_back(name + ".weight_scale", scale);
    if (q.act_mode == ActivationQuantMode::kStaticPerTensor) {
      tensors.emplace_back(name + ".input_scale", q.input_scale.to(at::kFloat).reshape({1}).contiguous());
      // compressed-tensors dequantizes (q − zero_point) · scale, our offset convention exactly.
      if (!q.act_symmetric) {
        tensors.emplace_back(
            name + ".input_zero_point",
            saver_rules::to_integer_checked(at::round(q.input_offset).reshape({1}), at::kChar,
                                            name + ".input_zero_point", "compressed_tensors saver"));
      }
    }
  }
  if (q.bias) tensors.emplace_back(name + ".bias", q.bias->to(float_dtype).contiguous());
  return tensors;
}

}  // namespace modelslim::compressed_tensors
