#include "modelslim/deployed_model.hpp"

#include "modelslim/error.hpp"
#include "modelslim/quant_math.hpp"

#include <ATen/ATen.h>

namespace modelslim {
namespace {

std::optional<at::Tensor> optional_tensor(const SafetensorsCheckpoint& saved, const std::string& key) {
  if (!saved.contains(key)) return std::nullopt;
  return saved.load(key).to(at::kDouble);
}

class StaticW8A8 final : public LinearCompute {
 public:
  StaticW8A8(const SafetensorsCheckpoint& saved, const std::string& name)
      : weight_t_(saved.load(name + ".weight").to(at::kDouble).t().contiguous()),
        input_scale_(saved.load(name + ".input_scale").to(at::kFloat)),
        input_offset_(saved.load(name + ".input_offset").to(at::kFloat)),
        quant_bias_(saved.load(name + ".quant_bias").to(at::kDouble)) {
    const at::Tensor deq = saved.load(name + ".deq_scale");
    // float32 for bf16 models; otherwise the float32 bit pattern stored in int64.
    deq_scale_ = (deq.scalar_type() == at::kLong ? deq.to(at::kInt).view(at::kFloat) : deq).to(at::kDouble);
  }
  at::Tensor forward(const Linear&, const at::Tensor& input) const override {
    // Activations are quantized in float32 as the device does; the integer matmul is exact in float64.
    const at::Tensor xq =
        at::clamp(at::round(input.to(at::kFloat) / input_scale_ + input_offset_), -128, 127).to(at::kDouble);
    return (deq_scale_ * (at::matmul(xq, weight_t_) + quant_bias_)).to(input.scalar_type());
  }

 private:
  at::Tensor weight_t_;
  at::Tensor input_scale_;   // float32 [1]
  at::Tensor input_offset_;  // float32 [1]
  at::Tensor quant_bias_;
  at::Tensor deq_scale_;
};

// W4A8_DYNAMIC weights are packed two output rows per byte: low nibble row 2m, high nibble row 2m+1.
at::Tensor unpack_int4_rows(const at::Tensor& packed) {
  const at::Tensor bytes = packed.to(at::kInt).remainder(256);
  const at::Tensor low = bytes.remainder(16);
  const at::Tensor high = at::floor_divide(bytes, 16);
  const auto sign = [](const at::Tensor& nibble) { return at::where(nibble >= 8, nibble - 16, nibble); };
  return at::stack({sign(low), sign(high)}, 1).reshape({-1, packed.size(1)}).to(at::kDouble);
}

// ascendv1 W4A16 (reference legacy layout): per-channel scales pack input column pairs ([out, in/2]),
// per-group scales pack output row pairs ([out/2, in]); low nibble first in both.
at::Tensor unpack_int4_w4a16(const at::Tensor& packed, std::int64_t out_features) {
  if (packed.size(0) == out_features) return unpack_int4_rows(packed.t().contiguous()).t().contiguous();
  return unpack_int4_rows(packed);
}

class DynamicW8A8 final : public LinearCompute {
 public:
  DynamicW8A8(const SafetensorsCheckpoint& saved, const std::string& name, bool packed_int4)
      : weight_t_((packed_int4 ? unpack_int4_rows(saved.load(name + ".weight"))
                               : saved.load(name + ".weight").to(at::kDouble))
                      .t()
                      .contiguous()),
        weight_scale_(saved.load(name + ".weight_scale").to(at::kDouble).reshape({-1})),
        bias_(optional_tensor(saved, name + ".bias")) {}
  at::Tensor forward(const Linear&, const at::Tensor& input) const override {
    const at::Tensor x = input.to(at::kFloat);
    const at::Tensor scale = at::clamp_min(x.abs().amax(-1, true) / 127.0, 1.1920928955078125e-07);
    const at::Tensor xq = at::clamp(at::round(x / scale), -128, 127).to(at::kDouble);
    at::Tensor y = at::matmul(xq, weight_t_) * scale.to(at::kDouble) * weight_scale_;
    if (bias_) y = y + *bias_;
    return y.to(input.scalar_type());
  }

 private:
  at::Tensor weight_t_;
  at::Tensor weight_scale_;
  std::optional<at::Tensor> bias_;
};

class WeightOnly final : public LinearCompute {
 public:
  WeightOnly(const SafetensorsCheckpoint& saved, const std::string& name, bool packed_int4)
      : weight_(dequantize_weight(packed_int4 ? unpack_int4_w4a16(saved.load(name + ".weight"),
                                                                  saved.load(name + ".weight_scale").size(0))
                                              : saved.load(name + ".weight"),
                                  squeeze_column(saved.load(name + ".weight_scale")),
                                  squeeze_column(saved.load(name + ".weight_offset")))
                    .to(at::kDouble)),
        bias_(optional_tensor(saved, name + ".bias")) {}
  at::Tensor forward(const Linear&, const at::Tensor& input) const override {
    at::Tensor y = at::matmul(input.to(at::kDouble), weight_.t());
    if (bias_) y = y + *bias_;
    return y.to(input.scalar_type());
  }

 private:
  // Per-channel params are stored [out, 1]; per-group [out, groups].
  static at::Tensor squeeze_column(const at::Tensor& t) { return t.size(1) == 1 ? t.squeeze(1) : t; }
  at::Tensor weight_;
  std::optional<at::Tensor> bias_;
};

}  // namespace

std::shared_ptr<const LinearCompute> make_deployed_linear(const SafetensorsCheckpoint& saved,
                                                          const std::string& name, const std::string& type) {
  if (type == "W8A8") return std::make_shared<StaticW8A8>(saved, name);
  if (type == "W8A8_DYNAMIC") return std::make_shared<DynamicW8A8>(saved, name, false);
  // vllm-ascend runs W8A8_MIX dynamic per token unless the instance is a disaggregated decode (KV consumer).
  if (type == "W8A8_MIX") return std::make_shared<DynamicW8A8>(saved, name, false);
  if (type == "W4A8_DYNAMIC") return std::make_shared<DynamicW8A8>(saved, name, true);
  if (type == "W8A16") return std::make_shared<WeightOnly>(saved, name, false);
  if (type == "W4A16") return std::make_shared<WeightOnly>(saved, name, true);
  throw Error(ErrorCode::kUnsupported,
              "deployed arithmetic: ascendv1 type '" + type + "' of " + name + " cannot be evaluated yet");
}

}  // namespace modelslim
