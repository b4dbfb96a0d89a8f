// Integer quantization arithmetic shared by processors, savers and evaluators (reference math,
// ../shared/reference/quant-service.md §3), always computed in float32 whatever the model dtype.
//   range:      mn = min(min, 0), mx = max(max, 0)
//   symmetric:  scale = max(max(-mn, mx) / (2^(b-1) - 1), eps), offset = 0
//   asymmetric: scale = max((mx - mn) / (2^b - 1), eps), offset = round(-mn / scale) - 2^(b-1)
//   quantize:   q = clamp(round_half_even(x / scale + offset), -2^(b-1), 2^(b-1) - 1)
//   dequantize: (q - offset) * scale
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "modelslim/export.hpp"

namespace modelslim {

struct IntRange {
  std::int64_t min;
  std::int64_t max;
};
MODELSLIM_SDK_API IntRange int_range(int bits);

struct ScaleOffset {
  at::Tensor scale;   // float32
  at::Tensor offset;  // float32 (integer-valued)
};

// Element-wise over broadcastable min/max tensors.
MODELSLIM_SDK_API ScaleOffset minmax_scale_offset(const at::Tensor& min, const at::Tensor& max, int bits,
                                                  bool symmetric);
// Integer values as float32 (exact for |q| < 2^24).
MODELSLIM_SDK_API at::Tensor quantize_values(const at::Tensor& x, const at::Tensor& scale,
                                             const at::Tensor& offset, int bits);
MODELSLIM_SDK_API at::Tensor dequantize_values(const at::Tensor& q, const at::Tensor& scale,
                                               const at::Tensor& offset);
MODELSLIM_SDK_API at::Tensor fake_quantize(const at::Tensor& x, const at::Tensor& scale,
                                           const at::Tensor& offset, int bits);

struct QuantizedWeight {
  at::Tensor qweight;  // int8 [out, in]
  at::Tensor scale;    // float32 [out] or [out, in / group_size]
  at::Tensor offset;   // float32, same shape
};
// group_size 0: one scale per output row; otherwise per (row, group of `group_size` input columns).
MODELSLIM_SDK_API QuantizedWeight quantize_weight_minmax(const at::Tensor& weight, int bits, bool symmetric,
                                                         std::int64_t group_size);
// Threads quantize_weight_minmax splits its rows over: its own setting, apart from LibTorch's intra-op pool
// that the forward uses (docs/performance.md, "Threads"). 0 (the default): every CPU this process may run
// on, or LibTorch's intra-op count when OMP_NUM_THREADS is set. Results do not depend on it.
MODELSLIM_SDK_API void set_weight_quant_threads(int threads);
MODELSLIM_SDK_API int weight_quant_threads();
MODELSLIM_SDK_API at::Tensor dequantize_weight(const at::Tensor& qweight, const at::Tensor& scale,
                                               const at::Tensor& offset);
// SSZ (per output channel): starts from min/max, then alternates re-quantizing with the least-squares scale
// (symmetric: s = Σ w·q / Σ q²; asymmetric also z = round(Σ (q·s − w) / (n·s))) for at most `steps`
// rounds, keeping a channel's new parameters only when its MSE drops; stops when no channel improves by
// more than 1e-10. Computed in float64.
MODELSLIM_SDK_API QuantizedWeight quantize_weight_ssz(const at::Tensor& weight, int bits, bool symmetric,
                                                      int steps);

// Dynamic per-token activation fake quantization: one scale/offset per row of the last dimension.
MODELSLIM_SDK_API at::Tensor fake_quantize_per_token(const at::Tensor& x, int bits, bool symmetric);

}  // namespace modelslim
