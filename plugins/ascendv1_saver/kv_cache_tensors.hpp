// The reference's C8 layout (int8 KV cache, processor dynamic_cache): per attention module A,
// A.k_proj.kv_cache_scale / A.k_proj.kv_cache_offset / A.v_proj.kv_cache_scale / A.v_proj.kv_cache_offset,
// float32 [kv_heads * head_dim], type "C8"; the description then carries kv_cache_type and kv_quant_type
// "C8" (vllm-ascend enables its C8 attention on kv_cache_type and maps the tensors to
// attn.{k,v}_cache_{scale,offset}).
#pragma once

#include <vector>

#include "ascend_tensors.hpp"
#include "modelslim/block.hpp"

namespace modelslim::ascendv1 {

// The block's C8 tensors (none when it has no int8 KV cache).
std::vector<TypedTensor> kv_cache_tensors(Block& block);

}  // namespace modelslim::ascendv1
