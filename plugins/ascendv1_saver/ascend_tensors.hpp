// The ascendv1 tensor layout of one linear layer (reference quant-service.md §7).
#pragma once

#include <string>
#include <vector>

#include "modelslim/linear.hpp"

namespace modelslim::ascendv1 {

struct TypedTensor {
  std::string key;  // "<module>.<suffix>"
  at::Tensor tensor;
  std::string type;  // "W8A8", "FLOAT", ...
};

// "W8A8", "W8A8_DYNAMIC" or "W8A16" for a quantized linear; throws Unsupported for other forms.
std::string ascend_quant_type(const QuantizedLinear& quantized);
// Tensors for a linear: its quantized form when it has one, else weight/bias as FLOAT in `float_dtype`.
std::vector<TypedTensor> linear_tensors(const Linear& linear, at::ScalarType float_dtype);
// Ranking used for the description's model_quant_type (the highest seen wins).
int quant_type_rank(const std::string& type);

}  // namespace modelslim::ascendv1
