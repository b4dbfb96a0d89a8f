// The safetensors header as modelslim writes it, shared by every writer so their bytes agree: the 8-byte
// little-endian length, then the JSON (metadata first, tensors in the order added) padded with spaces to a
// multiple of 8 bytes so the data section stays 8-byte aligned. Internal to the SDK.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "modelslim/safetensors.hpp"

namespace modelslim::detail {

// Length prefix + padded JSON: the bytes before the data section.
std::string safetensors_header_bytes(const std::map<std::string, std::string>& metadata,
                                     const std::vector<TensorInfo>& entries);

}  // namespace modelslim::detail
