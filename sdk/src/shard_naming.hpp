// File names and publishing steps shared by ShardedWriter and StreamingShardWriter, so both produce the
// same layout. Internal to the SDK.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace modelslim::detail {

// A closed shard before the count is known: "<stem>.part<index>.safetensors".
std::filesystem::path shard_temp_path(const std::filesystem::path& dir, const std::string& stem,
                                      std::size_t index);
// Renames the closed shards to their final names ("<stem>.safetensors", or "-0000i-of-0000N" plus
// "<stem>.safetensors.index.json" when `sharded`) and returns the names.
std::vector<std::string> publish_shards(const std::filesystem::path& dir, const std::string& stem,
                                        bool sharded, const std::vector<std::vector<std::string>>& shard_keys,
                                        std::uint64_t total_bytes);

}  // namespace modelslim::detail
