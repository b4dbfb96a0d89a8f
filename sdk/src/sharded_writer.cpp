#include "modelslim/sharded_writer.hpp"

#include "shard_naming.hpp"

namespace modelslim {

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
  return detail::shard_temp_path(dir_, stem_, index);
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
  return detail::publish_shards(dir_, stem_, part_bytes_ > 0, shard_keys_, total_bytes_);
}

}  // namespace modelslim
