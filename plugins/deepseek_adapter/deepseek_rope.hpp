// Rotary embeddings on MLA's rope part (qk_rope_head_dim channels): inverse frequencies (YaRN-scaled when
// rope_scaling says so), cos/sin tables times YaRN's attention factor, and the rotation itself in DeepSeek's
// interleaved layout (channels 2i and 2i+1 rotate together) or the half-split one (i and i + dim/2).
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

#include "deepseek_config.hpp"

namespace modelslim::deepseek {

at::Tensor rope_inverse_frequencies(const DeepseekConfig& config);  // float32 [qk_rope_head_dim / 2]
// cos and sin for positions start .. start+count-1: float32 [count, qk_rope_head_dim / 2].
std::pair<at::Tensor, at::Tensor> rope_tables(const DeepseekConfig& config, std::int64_t start,
                                              std::int64_t count);
// x: [..., seq, qk_rope_head_dim] → the rotated x, in the same channel layout.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, bool interleave);

}  // namespace modelslim::deepseek
