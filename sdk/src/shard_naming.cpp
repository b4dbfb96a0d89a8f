#include "shard_naming.hpp"

#include <cstdio>

#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"

namespace modelslim::detail {
namespace {

void rename_shard(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::error_code error;
  std::filesystem::rename(from, to, error);
  if (error) {
    throw Error(ErrorCode::kIo,
                to.string() + ": cannot rename " + from.string() + " into place: " + error.message());
  }
}

std::string shard_name(const std::string& stem, std::size_t index, std::size_t count) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "-%05zu-of-%05zu.safetensors", index + 1, count);
  return stem + buffer;
}

}  // namespace

std::filesystem::path shard_temp_path(const std::filesystem::path& dir, const std::string& stem,
                                      std::size_t index) {
  return dir / (stem + ".part" + std::to_string(index) + ".safetensors");
}

std::vector<std::string> publish_shards(const std::filesystem::path& dir, const std::string& stem,
                                        bool sharded, const std::vector<std::vector<std::string>>& shard_keys,
                                        std::uint64_t total_bytes) {
  if (!sharded) {
    const std::string name = stem + ".safetensors";
    rename_shard(shard_temp_path(dir, stem, 0), dir / name);
    return {name};
  }
  std::vector<std::string> names;
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < shard_keys.size(); ++i) {
    const std::string name = shard_name(stem, i, shard_keys.size());
    rename_shard(shard_temp_path(dir, stem, i), dir / name);
    for (const auto& key : shard_keys[i]) weight_map[key] = name;
    names.push_back(name);
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total_bytes}};
  index["weight_map"] = weight_map;
  write_json_file_atomic(dir / (stem + ".safetensors.index.json"), nlohmann::json(index));
  return names;
}

}  // namespace modelslim::detail
