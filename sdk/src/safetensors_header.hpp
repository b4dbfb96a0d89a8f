// The safetensors header as modelslim writes it, shared by every writer so their bytes agree: the 8-byte
// little-endian length, then the JSON (metadata first, tensors in the order added) padded with spaces to a
// multiple of 8 bytes so the data section stays 8-byte aligned. Internal to the SDK.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "modelslim/safetensors.hpp"

namespace modelslim::detail {

// Length prefix + padded JSON: the bytes before the data section.
std::string safetensors_header_bytes(const std::map<std::string, std::string>& metadata,
                                     const std::vector<TensorInfo>& entries);

// A tensor about to be appended at `offset` of a data section, checked the same way by every writer
// (`file` in the messages): not after finish, not the reserved name, not a duplicate, a writable dtype.
struct PendingTensor {
  TensorInfo info;  // data_begin = offset, data_end = offset + bytes
  at::Tensor data;  // contiguous, on the CPU
  std::uint64_t bytes = 0;
};
PendingTensor pending_tensor(const std::filesystem::path& file, const std::string& name,
                             const at::Tensor& tensor, bool finished, bool duplicate, std::uint64_t offset);

}  // namespace modelslim::detail
