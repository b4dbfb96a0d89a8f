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

// "W8A8", "W8A8_DYNAMIC", "W8A16", "W4A8_DYNAMIC" or "W4A16" for a quantized linear; throws Unsupported
// for other forms.
std::string ascend_quant_type(const QuantizedLinear& quantized);
// Tensors for a linear: its quantized form when it has one, else weight/bias as FLOAT in `float_dtype`.
std::vector<TypedTensor> linear_tensors(const Linear& linear, at::ScalarType float_dtype);
// W4A8_DYNAMIC weight layout (reference save/utils/pack.py): output rows paired, byte m·in + j =
// (w[2m+1, j] << 4) | (w[2m, j] & 0xF) as int8, shape [out/2, in].
at::Tensor pack_int4_pairs_along_rows(const at::Tensor& values);
// W4A16 per-channel layout (reference llm_ptq save/complex_quantifier.py _w4a16_pack_int4, trans_flag):
// input columns paired, byte (i, k) = (w[i, 2k+1] << 4) | (w[i, 2k] & 0xF) as int8, shape [out, in/2].
// W4A16 per-group uses the row-pair layout above.
at::Tensor pack_int4_pairs_along_columns(const at::Tensor& values);
// W4A8_DYNAMIC scale_bias: 8 · Σ_j W_deq[i, j] per row ([out, 1]); row-parallel linears (o_proj, down_proj)
// one sum per 1/16 slice of the input ([out, 16]), the tensor-parallel split the kernels assume.
at::Tensor w4a8_scale_bias(const std::string& name, const at::Tensor& dequantized_weight);
// Ranking used for the description's model_quant_type (the highest seen wins).
int quant_type_rank(const std::string& type);

}  // namespace modelslim::ascendv1
