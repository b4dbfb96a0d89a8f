#include "safetensors_header.hpp"

#include <nlohmann/json.hpp>

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

}  // namespace modelslim::detail
