// The arithmetic a deployment performs for each ascendv1 type, computed from the SAVED tensors only
// (float64):
//   W8A8          xq = clamp(round(x / input_scale + input_offset)), y = deq_scale · (xq·Wqᵀ + quant_bias)
//   W8A8_DYNAMIC  per token s = max|x| / 127, xq = round(x / s), y = s · weight_scale · (xq·Wqᵀ) + bias
//   W8A16         y = x · ((Wq − weight_offset) · weight_scale)ᵀ + bias   (per channel or per group)
#pragma once

#include <memory>
#include <string>

#include "modelslim/linear.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim::eval {

// Returns the compute for `type` ("W8A8", "W8A8_DYNAMIC", "W8A16"); throws Unsupported for other types.
std::shared_ptr<const LinearCompute> make_deployed_linear(const SafetensorsCheckpoint& saved,
                                                          const std::string& name, const std::string& type);

}  // namespace modelslim::eval
