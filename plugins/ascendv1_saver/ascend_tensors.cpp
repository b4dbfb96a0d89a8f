#include "ascend_tensors.hpp"

#include <algorithm>
#include <array>
#include <string>

#include "modelslim/error.hpp"

namespace modelslim::ascendv1 {
namespace {

at::Tensor as_column(const at::Tensor& per_row) {
  return per_row.reshape({per_row.size(0), -1}).contiguous();
}

}  // namespace

std::string ascend_quant_type(const QuantizedLinear& q) {
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kStaticPerTensor && q.group_size == 0)
    return "W8A8";
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kDynamicPerToken && q.group_size == 0) {
    return "W8A8_DYNAMIC";
  }
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kNone) return "W8A16";
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
