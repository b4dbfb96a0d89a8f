// Simulates a quantized linear in float: activations quantized as deployment would (static per-tensor scale
// or dynamic per-token), weights dequantized from their integer form.
#pragma once

#include <memory>

#include "modelslim/linear.hpp"

namespace modelslim::linear_quant {

class FakeQuantLinear final : public LinearCompute {
 public:
  explicit FakeQuantLinear(std::shared_ptr<const QuantizedLinear> quantized);
  at::Tensor forward(const Linear& linear, const at::Tensor& input) const override;

 private:
  std::shared_ptr<const QuantizedLinear> quantized_;
  at::Tensor dequantized_weight_;  // float32 [out, in]
};

}  // namespace modelslim::linear_quant
