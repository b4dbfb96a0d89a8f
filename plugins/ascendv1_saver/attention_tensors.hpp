// The ascendv1 layout of FA3 (quantized attention inputs), as the reference's ascendv1 saver writes it and
// vllm-ascend's FAKQuant attention method reads it:
//   <attn>.fa_q.scale / .fa_k.scale / .fa_v.scale   float32 [heads, 1]   "FAQuant"   (static per head)
//   <attn>.fa_q.offset / ...                        int8 zeros [heads, 1] "FAQuant"
//   <attn>.quant_type                               "INT8", "INT8_DYNAMIC", or per group of inputs with one
//                                                   form in Q, K, V order: "QK_INT8_V_INT8_DYNAMIC"
//   fa_quant_type                                   "FAKQuant" once any static input was written
#pragma once

#include <string>
#include <vector>

#include "ascend_tensors.hpp"
#include "modelslim/attention_quant.hpp"
#include "modelslim/block.hpp"

namespace modelslim::ascendv1 {

struct AttentionQuantOutput {
  std::vector<TypedTensor> tensors;
  std::vector<std::pair<std::string, std::string>> entries;  // <attn>.quant_type → type
  bool static_inputs = false;                                // write fa_quant_type: FAKQuant
};

// Nothing for blocks that are not an AttentionQuantSource or whose attention inputs stay float.
AttentionQuantOutput attention_quant_output(Block& block);
// "INT8", "INT8_DYNAMIC", "QK_INT8_V_INT8_DYNAMIC", ...; empty when no input is quantized.
std::string fa_layer_quant_type(const AttentionQuantSlots& slots);

}  // namespace modelslim::ascendv1
