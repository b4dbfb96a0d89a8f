// Simulates a quantized linear in float: activations quantized as deployment would (static per-tensor scale
// or dynamic per-token), weights dequantized from their integer form.
#pragma once

#include <memory>
#include <mutex>

#include "modelslim/linear.hpp"

namespace modelslim::linear_quant {

class FakeQuantLinear final : public LinearCompute {
 public:
  explicit FakeQuantLinear(std::shared_ptr<const QuantizedLinear> quantized);
  at::Tensor forward(const Linear& linear, const at::Tensor& input) const override;

 private:
  std::shared_ptr<const QuantizedLinear> quantized_;
  // float32 [out, in], built on first use: layer-wise runs often never forward a block after quantizing it.
  mutable std::once_flag dequantize_once_;
  mutable at::Tensor dequantized_weight_;
};

}  // namespace modelslim::linear_quant
