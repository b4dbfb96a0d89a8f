// The compressed-tensors layout (Hugging Face / vLLM) of one quantized linear and of its config group.
// Sources: neuralmagic/compressed-tensors (QuantizationArgs, pack_to_int32) and vLLM's
// CompressedTensorsW8A8Int8 / CompressedTensorsWNA16 parameter definitions; see docs/savers.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/linear.hpp"

namespace modelslim::compressed_tensors {

// One config group: the quantization arguments shared by a set of linears.
struct GroupScheme {
  std::string format;          // "int-quantized" (W8A8) or "pack-quantized" (weight-only)
  nlohmann::json weights;      // QuantizationArgs of the weights
  nlohmann::json activations;  // QuantizationArgs of the inputs, or null (weight-only)

  bool operator==(const GroupScheme& other) const {
    return format == other.format && weights == other.weights && activations == other.activations;
  }
};

// The scheme of a quantized linear; throws Error(kUnsupported) naming `name` for forms without a layout.
GroupScheme scheme_of(const QuantizedLinear& quantized, const std::string& name);

// Tensors to save for a quantized linear, keys "<name>.<suffix>".
std::vector<std::pair<std::string, at::Tensor>> quantized_tensors(const QuantizedLinear& quantized,
                                                                  const std::string& name,
                                                                  at::ScalarType float_dtype);

// compressed-tensors pack_to_int32 along the last dim: value + 2^(bits−1) as unsigned, 32/bits values per
// int32, element i of a word at bits [i·bits, (i+1)·bits); the last word is padded with zero codes.
// `values`: int8 [rows, cols] → int32 [rows, ceil(cols·bits/32)].
at::Tensor pack_to_int32(const at::Tensor& values, int bits);

}  // namespace modelslim::compressed_tensors
