// Splits saved tensors into shards of at most `part_bytes` (0: a single file), streaming each shard to disk.
// Shards get their final "-0000i-of-0000N" names and the index once the total count is known.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modelslim/export.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim {

class MODELSLIM_SDK_API ShardedWriter {
 public:
  // `stem`: "quant_model_weights" → quant_model_weights.safetensors or quant_model_weights-00001-of-00002...
  ShardedWriter(std::filesystem::path dir, std::string stem, std::uint64_t part_bytes);
  // Without a successful finish(), removes the shards it closed (nothing half-written stays behind).
  ~ShardedWriter();
  ShardedWriter(ShardedWriter&&) noexcept = default;
  ShardedWriter& operator=(ShardedWriter&&) noexcept = default;
  void add(const std::string& key, const at::Tensor& tensor);
  // Closes the last shard, renames shards and writes the index when sharded. Returns the file names. A
  // failed write, fsync, close or rename is an Error naming the file.
  std::vector<std::string> finish();

 private:
  std::filesystem::path shard_temp_path(std::size_t index) const;
  void start_shard();

  std::filesystem::path dir_;
  std::string stem_;
  std::uint64_t part_bytes_;
  std::unique_ptr<SafetensorsWriter> current_;
  std::vector<std::vector<std::string>> shard_keys_;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace modelslim
