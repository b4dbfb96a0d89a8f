#include "fake_quant_linear.hpp"

#include "modelslim/quant_math.hpp"

#include <ATen/ATen.h>

namespace modelslim::linear_quant {

FakeQuantLinear::FakeQuantLinear(std::shared_ptr<const QuantizedLinear> quantized)
    : quantized_(std::move(quantized)) {}

at::Tensor FakeQuantLinear::forward(const Linear& linear, const at::Tensor& input) const {
  const QuantizedLinear& q = *quantized_;
  at::Tensor x = input.to(at::kFloat);
  switch (q.act_mode) {
    case ActivationQuantMode::kStaticPerTensor:
      x = fake_quantize(x, q.input_scale, q.input_offset, q.act_bits);
      break;
    case ActivationQuantMode::kDynamicPerToken:
      x = fake_quantize_per_token(x, q.act_bits, q.act_symmetric);
      break;
    case ActivationQuantMode::kNone:
      break;
  }
  std::call_once(dequantize_once_, [&] {
    dequantized_weight_ = dequantize_weight(q.qweight, q.weight_scale, q.weight_offset);
  });
  const at::Tensor weight = dequantized_weight_.to(x.device());
  const at::Tensor y = linear.bias() ? at::linear(x, weight, *linear.bias()) : at::linear(x, weight);
  return y.to(input.scalar_type());
}

}  // namespace modelslim::linear_quant
