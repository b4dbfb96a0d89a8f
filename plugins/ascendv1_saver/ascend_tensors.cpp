#include "ascend_tensors.hpp"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>

#include "modelslim/error.hpp"
#include "modelslim/quant_math.hpp"

namespace modelslim::ascendv1 {
namespace {

at::Tensor as_column(const at::Tensor& per_row) {
  return per_row.reshape({per_row.size(0), -1}).contiguous();
}

bool name_has_any(const std::string& name, std::initializer_list<const char*> parts) {
  for (const char* part : parts) {
    if (name.find(part) != std::string::npos) return true;
  }
  return false;
}

// The tensor-parallel degree the reference's W4A8 kernels assume when splitting row-parallel inputs.
constexpr std::int64_t kW4A8TensorParallel = 16;

}  // namespace

at::Tensor pack_int4_pairs_along_rows(const at::Tensor& values) {
  if (values.size(0) % 2 != 0) {
    throw Error(ErrorCode::kUnsupported, "W4A8_DYNAMIC packs output rows in pairs; out_features " +
                                             std::to_string(values.size(0)) + " is odd");
  }
  const at::Tensor v = values.to(at::kInt);
  const at::Tensor even = v.slice(0, 0, v.size(0), 2);
  const at::Tensor odd = v.slice(0, 1, v.size(0), 2);
  // byte = (w[2m+1] << 4) | (w[2m] & 0xF), reinterpreted as int8.
  const at::Tensor byte = (odd * 16 + at::bitwise_and(even, 0xF)).remainder(256);
  return at::where(byte >= 128, byte - 256, byte).to(at::kChar).contiguous();
}

at::Tensor w4a8_scale_bias(const std::string& name, const at::Tensor& dequantized_weight) {
  const at::Tensor w = dequantized_weight.to(at::kDouble);
  if (name_has_any(name, {"down_proj", "o_proj", "w2"})) {
    // Row-parallel: one sum per tensor-parallel slice of the input dimension.
    if (w.size(1) % kW4A8TensorParallel != 0) {
      throw Error(ErrorCode::kUnsupported, name + ": W4A8_DYNAMIC needs in_features divisible by " +
                                               std::to_string(kW4A8TensorParallel));
    }
    return (8.0 * w.reshape({w.size(0), kW4A8TensorParallel, -1}).sum(2)).to(at::kFloat).contiguous();
  }
  return (8.0 * w.sum(1, true)).to(at::kFloat).contiguous();
}

namespace {}  // namespace

std::string ascend_quant_type(const QuantizedLinear& q) {
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kStaticPerTensor && q.group_size == 0)
    return "W8A8";
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kDynamicPerToken && q.group_size == 0) {
    return "W8A8_DYNAMIC";
  }
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kNone) return "W8A16";
  if (q.weight_bits == 4 && q.act_mode == ActivationQuantMode::kDynamicPerToken && q.group_size == 0 &&
      q.weight_symmetric) {
    return "W4A8_DYNAMIC";
  }
  throw Error(ErrorCode::kUnsupported,
              "ascendv1_saver: " + std::to_string(q.weight_bits) +
                  "-bit weights with these activations have no ascendv1 type in this version",
              "save int4 weight-only (W4A16) models with the compressed_tensors saver");
}

int quant_type_rank(const std::string& type) {
  static const std::array<const char*, 10> kOrder = {
      "FLOAT", "W16A16S",          "W8A16", "W8A8_DYNAMIC", "W8A8_MIX",
      "W8A8",  "WFP8AFP8_DYNAMIC", "W4A16", "W4A8_DYNAMIC", "W4A4_DYNAMIC"};
  const auto found = std::find(kOrder.begin(), kOrder.end(), type);
  return found == kOrder.end() ? -1 : static_cast<int>(found - kOrder.begin());
}

std::vector<TypedTensor> linear_tensors(const Linear& linear, at::ScalarType float_dtype) {
  const std::string& name = linear.name();
  std::vector<TypedTensor> tensors;
  const auto& quantized = linear.quantized();
  if (!quantized) {
    tensors.push_back({name + ".weight", linear.weight().to(float_dtype).contiguous(), "FLOAT"});
    if (linear.bias())
      tensors.push_back({name + ".bias", linear.bias()->to(float_dtype).contiguous(), "FLOAT"});
    return tensors;
  }
  const QuantizedLinear& q = *quantized;
  std::string type;
  try {
    type = ascend_quant_type(q);
  } catch (const Error& error) {
    throw Error(error.code(), name + ": " + error.what(), error.tip());
  }
  if (type == "W4A8_DYNAMIC") {
    tensors.push_back({name + ".weight", pack_int4_pairs_along_rows(q.qweight), type});
    tensors.push_back({name + ".weight_scale", as_column(q.weight_scale.to(at::kFloat)), type});
    tensors.push_back({name + ".weight_offset", at::zeros({q.qweight.size(0), 1}, at::kFloat), type});
    tensors.push_back({name + ".scale_bias",
                       w4a8_scale_bias(name, dequantize_weight(q.qweight, q.weight_scale, q.weight_offset)),
                       type});
    if (q.bias) tensors.push_back({name + ".bias", q.bias->to(float_dtype).contiguous(), "FLOAT"});
    return tensors;
  }
  tensors.push_back({name + ".weight", q.qweight.to(at::kChar).contiguous(), type});
  if (type == "W8A8") {
    // y = deq_scale * (Wq·xq + quant_bias) with xq = round(x / input_scale + input_offset).
    const at::Tensor weight_scale = q.weight_scale.to(at::kFloat);
    const at::Tensor deq_scale = (q.input_scale.to(at::kFloat) * weight_scale).contiguous();
    const at::Tensor row_sums = q.qweight.to(at::kDouble).sum(1);
    at::Tensor correction = -q.input_offset.to(at::kDouble) * row_sums;
    if (q.bias) correction = correction + q.bias->to(at::kDouble) / deq_scale.to(at::kDouble);
    tensors.push_back({name + ".input_scale", q.input_scale.to(at::kFloat).reshape({1}).contiguous(), type});
    tensors.push_back(
        {name + ".input_offset", q.input_offset.to(at::kFloat).reshape({1}).contiguous(), type});
    tensors.push_back({name + ".quant_bias", at::round(correction).to(at::kInt).contiguous(), type});
    // bf16 deployments read deq_scale as float32; fp16 ones as the float32 bit pattern in int64.
    tensors.push_back({name + ".deq_scale",
                       float_dtype == at::kBFloat16 ? deq_scale : deq_scale.view(at::kInt).to(at::kLong),
                       type});
  } else {
    tensors.push_back({name + ".weight_scale", as_column(q.weight_scale.to(at::kFloat)), type});
    tensors.push_back({name + ".weight_offset", as_column(q.weight_offset.to(at::kFloat)), type});
  }
  if (q.bias) tensors.push_back({name + ".bias", q.bias->to(float_dtype).contiguous(), "FLOAT"});
  return tensors;
}

}  // namespace modelslim::ascendv1
