#include "modelslim/core/disk_space.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdio>

#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

std::string gib(std::uint64_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f GiB", static_cast<double>(bytes) / (1ULL << 30));
  return buffer;
}

std::uint64_t element_bytes(const nlohmann::json& hf_config) {
  const auto dtype = hf_config.find("torch_dtype");
  if (dtype == hf_config.end() || !dtype->is_string()) return 4;
  const std::string name = dtype->get<std::string>();
  if (name == "float16" || name == "bfloat16") return 2;
  if (name == "float8_e4m3fn" || name == "int8") return 1;
  return 4;
}

void collect_weight_bits(const YAML::Node& node, int& bits) {
  if (node.IsMap()) {
    for (const auto& item : node) {
      const YAML::Node& value = item.second;
      if (item.first.Scalar() == "weight" && value.IsMap() && value["dtype"] && value["dtype"].IsScalar()) {
        const std::string dtype = value["dtype"].Scalar();
        if (dtype == "int4") bits = std::min(bits, 4);
        if (dtype == "int8") bits = std::min(bits, 8);
      }
      collect_weight_bits(value, bits);
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) collect_weight_bits(item, bits);
  }
}

}  // namespace

int smallest_weight_bits(const YAML::Node& practice) {
  int bits = 16;
  collect_weight_bits(practice, bits);
  return bits == 16 ? 4 : bits;
}

std::uint64_t estimate_output_bytes(const std::filesystem::path& model_path, const nlohmann::json& hf_config,
                                    int weight_bits, std::size_t float_copies) {
  std::uint64_t checkpoint = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(model_path, error)) {
    if (entry.path().extension() == ".safetensors" && entry.is_regular_file(error)) {
      checkpoint += entry.file_size(error);
    }
  }
  const std::uint64_t element = element_bytes(hf_config);
  const std::uint64_t parameters = checkpoint / element;
  return parameters / 8 * static_cast<std::uint64_t>(weight_bits) + float_copies * parameters * element;
}

std::uint64_t free_bytes(const std::filesystem::path& path) {
  std::filesystem::path existing = path;
  std::error_code error;
  while (!existing.empty() && !std::filesystem::exists(existing, error) && existing.has_relative_path()) {
    existing = existing.parent_path();
  }
  struct statvfs stats {};
  if (::statvfs(existing.c_str(), &stats) != 0) return UINT64_MAX;  // unknown: the write itself will tell
  return static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
}

void require_free_space(const std::string& what, std::uint64_t needed, std::uint64_t available) {
  if (available >= needed) return;
  throw Error(ErrorCode::kIo,
              what + ": the output needs at least " + gib(needed) +
                  " (estimated from the checkpoint size and "
                  "the weight width) but only " +
                  gib(available) + " are free there",
              "free some space or choose a save path on another disk");
}

}  // namespace modelslim::core
