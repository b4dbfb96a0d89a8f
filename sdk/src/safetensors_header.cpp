#include "safetensors_header.hpp"

#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"

namespace modelslim::detail {

std::string safetensors_header_bytes(const std::map<std::string, std::string>& metadata,
                                     const std::vector<TensorInfo>& entries) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  for (const auto& entry : entries) {
    header[entry.name] = {
        {"dtype", entry.dtype}, {"shape", entry.shape}, {"data_offsets", {entry.data_begin, entry.data_end}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  std::string bytes(8, '\0');
  for (std::size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  return bytes + text;
}

PendingTensor pending_tensor(const std::filesystem::path& file, const std::string& name,
                             const at::Tensor& tensor, bool finished, bool duplicate, std::uint64_t offset) {
  const std::string quoted = "'" + name + "'";
  if (finished)
    throw Error(ErrorCode::kUnexpected, file.string() + ": tensor " + quoted + " added after finish()");
  if (name == "__metadata__") {
    throw Error(ErrorCode::kUnexpected, file.string() + ": '__metadata__' is reserved, not a tensor name");
  }
  if (duplicate) throw Error(ErrorCode::kUnexpected, file.string() + ": duplicate tensor " + quoted);
  PendingTensor pending;
  pending.info.name = name;
  try {
    pending.info.dtype = safetensors_dtype_name(tensor.scalar_type());
  } catch (const Error& error) {
    throw Error(ErrorCode::kUnsupported, file.string() + ": tensor " + quoted + ": " + error.what());
  }
  pending.data = tensor.detach().to(at::kCPU).contiguous();
  pending.info.shape = pending.data.sizes().vec();
  pending.bytes = static_cast<std::uint64_t>(pending.data.numel()) * pending.data.element_size();
  pending.info.data_begin = offset;
  pending.info.data_end = offset + pending.bytes;
  return pending;
}

}  // namespace modelslim::detail
