#include "modelslim/sharded_writer.hpp"

#include <cstdio>

#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"

namespace modelslim {
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

ShardedWriter::ShardedWriter(std::filesystem::path dir, std::string stem, std::uint64_t part_bytes)
    : dir_(std::move(dir)), stem_(std::move(stem)), part_bytes_(part_bytes) {}

ShardedWriter::~ShardedWriter() {
  // After finish() every shard has its final name and these paths are gone; after a failure they are
  // closed shards (the open one removes its own temporary files).
  current_.reset();
  for (std::size_t i = 0; i < shard_keys_.size(); ++i) {
    std::error_code ignored;
    std::filesystem::remove(shard_temp_path(i), ignored);
  }
}

std::filesystem::path ShardedWriter::shard_temp_path(std::size_t index) const {
  return dir_ / (stem_ + ".part" + std::to_string(index) + ".safetensors");
}

void ShardedWriter::start_shard() {
  current_ = std::make_unique<SafetensorsWriter>(shard_temp_path(shard_keys_.size()),
                                                 std::map<std::string, std::string>{{"format", "pt"}});
  shard_keys_.emplace_back();
}

void ShardedWriter::add(const std::string& key, const at::Tensor& tensor) {
  const std::uint64_t bytes = static_cast<std::uint64_t>(tensor.numel()) * tensor.element_size();
  // Flush before a tensor would push the shard past the limit; an oversized tensor gets a shard of its own.
  if (!current_ ||
      (part_bytes_ > 0 && current_->tensor_count() > 0 && current_->data_bytes() + bytes > part_bytes_)) {
    if (current_) current_->finish();
    start_shard();
  }
  current_->add(key, tensor);
  shard_keys_.back().push_back(key);
  total_bytes_ += bytes;
}

std::vector<std::string> ShardedWriter::finish() {
  if (!current_) start_shard();
  current_->finish();
  current_.reset();
  std::vector<std::string> names;
  if (part_bytes_ == 0) {
    const std::string name = stem_ + ".safetensors";
    rename_shard(shard_temp_path(0), dir_ / name);
    return {name};
  }
  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < shard_keys_.size(); ++i) {
    const std::string name = shard_name(stem_, i, shard_keys_.size());
    rename_shard(shard_temp_path(i), dir_ / name);
    for (const auto& key : shard_keys_[i]) weight_map[key] = name;
    names.push_back(name);
  }
  nlohmann::ordered_json index;
  index["metadata"] = {{"total_size", total_bytes_}};
  index["weight_map"] = weight_map;
  write_json_file_atomic(dir_ / (stem_ + ".safetensors.index.json"), nlohmann::json(index));
  return names;
}

}  // namespace modelslim
