#include "ascend_tensors.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>

#include "engine_rules.hpp"
#include "modelslim/error.hpp"
#include "modelslim/quant_math.hpp"
#include "row_sums.hpp"

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

constexpr const char* kSaver = "ascendv1_saver";

// The tensor-parallel degree the reference's W4A8 kernels assume when splitting row-parallel inputs.
constexpr std::int64_t kW4A8TensorParallel = 16;

}  // namespace

// Reference facts (Ascend/msmodelslim @3de0a3c):
// - W4A8_DYNAMIC, modelslim_v1 save/ascendv1.py on_w4a8_dynamic + save/utils/pack.py w4a8_pack_int4:
//   the int4 weight [out, in] is transposed, _pack_int4 pairs adjacent elements of the last axis, then
//   transposed back, so output rows 2m and 2m+1 share a byte: [out/2, in], torch.int8 (bitwise ops on
//   int8). weight_scale [out, 1] f32, weight_offset zeros [out, 1] f32, scale_bias f32 from
//   process_scale(name, W_deq, tp=16): 8·Σ_j W_deq[i, j] ([out, 1]) for q/k/v/gate/up/w1/w3 names,
//   8·Σ over each 1/16 slice of the input ([out, 16]) for o_proj/down_proj/w2. (Its docs' formula
//   "deq = (w − offset)·scale + scale_bias" does not match that code; we follow the code. For names in
//   neither list the reference stores W_deq itself; we store the column sum as for column-parallel.)
// - W4A16: modelslim_v1 has no float-act + int4-weight IR, so its ascendv1 saver cannot write W4A16; the
//   legacy llm_ptq saver does when saving ascendv1 (is_new_version): _w4a16_pack_int4 packs along the
//   input axis for per-channel scales ([out, in/2]) and along the output axis for per-group scales
//   ([out/2, in]), int8 bytes; weight_scale / weight_offset as computed ([out, 1] or [out, in/group]).
namespace {
// int4 codes must lie in [-8, 7]: the nibble mask would wrap anything else into another code.
void require_int4(const at::Tensor& values) {
  if (values.numel() == 0) return;
  const auto mn = values.min().item<std::int64_t>();
  const auto mx = values.max().item<std::int64_t>();
  if (mn < -8 || mx > 7) {
    throw Error(ErrorCode::kUnsupported, "int4 packing: values span [" + std::to_string(mn) + ", " +
                                             std::to_string(mx) + "], outside int4's [-8, 7]");
  }
}

// Low nibble first, as a signed byte.
at::Tensor pack_nibbles(const at::Tensor& low, const at::Tensor& high) {
  const at::Tensor byte = (high * 16 + at::bitwise_and(low, 0xF)).remainder(256);
  return at::where(byte >= 128, byte - 256, byte).to(at::kChar).contiguous();
}
}  // namespace

at::Tensor pack_int4_pairs_along_rows(const at::Tensor& values) {
  if (values.size(0) % 2 != 0) {
    throw Error(ErrorCode::kUnsupported,
                "int4 packing pairs output rows; out_features " + std::to_string(values.size(0)) + " is odd");
  }
  require_int4(values);
  const at::Tensor v = values.to(at::kInt);
  return pack_nibbles(v.slice(0, 0, v.size(0), 2), v.slice(0, 1, v.size(0), 2));
}

at::Tensor pack_int4_pairs_along_columns(const at::Tensor& values) {
  if (values.size(1) % 2 != 0) {
    throw Error(ErrorCode::kUnsupported, "int4 packing pairs input columns; in_features " +
                                             std::to_string(values.size(1)) + " is odd");
  }
  require_int4(values);
  const at::Tensor v = values.to(at::kInt);
  return pack_nibbles(v.slice(1, 0, v.size(1), 2), v.slice(1, 1, v.size(1), 2));
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

std::string ascend_quant_type(const QuantizedLinear& q) {
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kStaticPerTensor && q.group_size == 0)
    return "W8A8";
  // Per-token compute with static params kept (linear_quant's pd_mix): prefill dynamic, decode static.
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kDynamicPerToken && q.group_size == 0 &&
      q.input_scale.defined()) {
    return "W8A8_MIX";
  }
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kDynamicPerToken && q.group_size == 0) {
    return "W8A8_DYNAMIC";
  }
  if (q.weight_bits == 8 && q.act_mode == ActivationQuantMode::kNone) return "W8A16";
  if (q.weight_bits == 4 && q.act_mode == ActivationQuantMode::kDynamicPerToken && q.group_size == 0 &&
      q.weight_symmetric) {
    return "W4A8_DYNAMIC";
  }
  if (q.weight_bits == 4 && q.act_mode == ActivationQuantMode::kNone) return "W4A16";
  throw Error(ErrorCode::kUnsupported,
              "ascendv1_saver: " + std::to_string(q.weight_bits) +
                  "-bit weights with these activations have no ascendv1 type in this version",
              "int4 weights deploy as W4A16 (no act) or W4A8_DYNAMIC (act int8 per_token symmetric, "
              "weight per_channel symmetric)");
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
  if (type == "W4A16") {
    at::Tensor packed;
    try {
      packed =
          q.group_size > 0 ? pack_int4_pairs_along_rows(q.qweight) : pack_int4_pairs_along_columns(q.qweight);
    } catch (const Error& error) {
      throw Error(error.code(), name + ": W4A16: " + error.what(), error.tip());
    }
    tensors.push_back({name + ".weight", packed, type});
    tensors.push_back({name + ".weight_scale", as_column(q.weight_scale.to(at::kFloat)), type});
    tensors.push_back({name + ".weight_offset", as_column(q.weight_offset.to(at::kFloat)), type});
    if (q.bias) tensors.push_back({name + ".bias", q.bias->to(float_dtype).contiguous(), "FLOAT"});
    return tensors;
  }
  if (type == "W4A8_DYNAMIC") {
    at::Tensor packed;
    try {
      packed = pack_int4_pairs_along_rows(q.qweight);
    } catch (const Error& error) {
      throw Error(error.code(), name + ": W4A8_DYNAMIC: " + error.what(), error.tip());
    }
    tensors.push_back({name + ".weight", packed, type});
    tensors.push_back({name + ".weight_scale", as_column(q.weight_scale.to(at::kFloat)), type});
    tensors.push_back({name + ".weight_offset", at::zeros({q.qweight.size(0), 1}, at::kFloat), type});
    tensors.push_back({name + ".scale_bias",
                       w4a8_scale_bias(name, dequantize_weight(q.qweight, q.weight_scale, q.weight_offset)),
                       type});
    if (q.bias) tensors.push_back({name + ".bias", q.bias->to(float_dtype).contiguous(), "FLOAT"});
    return tensors;
  }
  tensors.push_back({name + ".weight",
                     saver_rules::to_integer_checked(q.qweight, at::kChar, name + ".weight", kSaver), type});
  if (type == "W8A8" || type == "W8A8_MIX") {
    // y = deq_scale * (Wq·xq + quant_bias) with xq = round(x / input_scale + input_offset).
    const at::Tensor weight_scale = q.weight_scale.to(at::kFloat);
    const at::Tensor deq_scale = (q.input_scale.to(at::kFloat) * weight_scale).contiguous();
    // Integer row sums are exact in int64 (a float64 copy of a 4096×11008 weight would cost 344 MiB).
    const at::Tensor row_sums = exact_row_sums(q.qweight).to(at::kDouble);
    at::Tensor correction = -q.input_offset.to(at::kDouble) * row_sums;
    if (q.bias) correction = correction + q.bias->to(at::kDouble) / deq_scale.to(at::kDouble);
    tensors.push_back({name + ".input_scale", q.input_scale.to(at::kFloat).reshape({1}).contiguous(), type});
    // vllm-ascend loads input_offset into an int8 parameter: it must be an integer in int8's range.
    const at::Tensor input_offset = saver_rules::to_integer_checked(q.input_offset.reshape({1}), at::kChar,
                                                                    name + ".input_offset", kSaver);
    tensors.push_back({name + ".input_offset", input_offset.to(at::kFloat), type});
    tensors.push_back(
        {name + ".quant_bias",
         saver_rules::to_integer_checked(at::round(correction), at::kInt, name + ".quant_bias", kSaver),
         type});
    // bf16 deployments read deq_scale as float32; fp16 ones as the float32 bit pattern in int64.
    tensors.push_back({name + ".deq_scale",
                       float_dtype == at::kBFloat16 ? deq_scale : deq_scale.view(at::kInt).to(at::kLong),
                       type});
  }
  if (type != "W8A8") {  // W8A8_MIX carries both sets (the reference's on_w8a8_pd_mix)
    tensors.push_back({name + ".weight_scale", as_column(q.weight_scale.to(at::kFloat)), type});
    tensors.push_back({name + ".weight_offset", as_column(q.weight_offset.to(at::kFloat)), type});
  }
  if (q.bias) tensors.push_back({name + ".bias", q.bias->to(float_dtype).contiguous(), "FLOAT"});
  return tensors;
}

}  // namespace modelslim::ascendv1
