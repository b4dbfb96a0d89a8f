// The quantizers a smoothing search evaluates its candidates with (flex_awq_ssz `qconfig`, awq
// `weight_qconfig`): the reference's QConfig fields (dtype, scope, symmetric, method, ext), the subset whose
// arithmetic the SDK implements, computed as fake quantization in float32.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>

#include "modelslim/config_node.hpp"

namespace modelslim::smoothing_search {

struct QuantizerSpec {
  int bits = 8;
  std::string scope;  // weight: per_channel | per_group; act: per_token | per_tensor
  bool symmetric = true;
  std::string method = "minmax";  // weight: minmax | ssz; act: minmax
  std::int64_t group_size = 0;    // per_group (ext.group_size, default 128)
  int ssz_steps = 50;             // ssz (ext.step)
};

// A weight quantizer node; errors name the field.
QuantizerSpec parse_weight_quantizer(const ConfigNode& node);
// An activation quantizer node; empty when it leaves activations in float (dtype float or method none).
std::optional<QuantizerSpec> parse_act_quantizer(const ConfigNode& node);

// Q(W) dequantized: per output row (per_channel) or per (row, group); min/max or SSZ.
at::Tensor fake_quantize_weight(const at::Tensor& weight, const QuantizerSpec& spec);
// per_token: one dynamic scale per row; per_tensor: static min/max calibrated on `x` itself.
at::Tensor fake_quantize_activation(const at::Tensor& x, const QuantizerSpec& spec);

}  // namespace modelslim::smoothing_search
