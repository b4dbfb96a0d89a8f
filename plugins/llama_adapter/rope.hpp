// Rotary position embeddings as in Hugging Face's Llama: inv_freq (with linear or llama3 scaling), cos/sin
// tables of width head_dim (the two halves repeated), and rotate_half.
#pragma once

#include <ATen/ATen.h>

#include "llama_config.hpp"

namespace modelslim::llama {

at::Tensor rope_inverse_frequencies(const LlamaConfig& config);  // float32 [head_dim / 2]
// cos and sin for positions 0..seq-1: float32 [seq, head_dim].
std::pair<at::Tensor, at::Tensor> rope_tables(const LlamaConfig& config, std::int64_t seq);
// The same for positions start .. start+count-1 (rows equal those of the full tables).
std::pair<at::Tensor, at::Tensor> rope_tables_at(const LlamaConfig& config, std::int64_t start,
                                                 std::int64_t count);
// x: [..., seq, head_dim] → x·cos + rotate_half(x)·sin.
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

}  // namespace modelslim::llama
