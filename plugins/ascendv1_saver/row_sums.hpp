// Exact integer row sums of a quantized weight (W8A8's quant_bias needs Σ_j Wq[i, j]).
#pragma once

#include <ATen/core/Tensor.h>

namespace modelslim::ascendv1 {

// Σ_j q[i, j] of a 2-D int8 tensor as int64 [rows], exact. Refuses another dtype or rank.
at::Tensor exact_row_sums(const at::Tensor& q);

}  // namespace modelslim::ascendv1
