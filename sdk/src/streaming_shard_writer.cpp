#include "modelslim/streaming_shard_writer.hpp"

#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>

#include "modelslim/env_names.hpp"
#include "modelslim/error.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/sharded_writer.hpp"
#include "shard_file.hpp"
#include "shard_naming.hpp"

namespace modelslim {
namespace {

const std::map<std::string, std::string> kShardMetadata = {{"format", "pt"}};

std::uint64_t byte_size(const TensorSpec& spec) {
  std::uint64_t elements = 1;
  for (const std::int64_t extent : spec.shape) elements *= static_cast<std::uint64_t>(extent);
  return elements * c10::elementSize(spec.dtype);
}

bool same_spec(const TensorSpec& a, const TensorSpec& b) {
  return a.name == b.name && a.dtype == b.dtype && a.shape == b.shape;
}

constexpr const char* kWriterEnv = env::kShardWriter;

// MODELSLIM_SHARD_WRITER: unset, empty or "stream" (default) / "spill"; anything else is refused.
bool spill_requested() {
  const char* value = std::getenv(kWriterEnv);
  if (value == nullptr || *value == '\0' || std::string_view(value) == "stream") return false;
  if (std::string_view(value) == "spill") return true;
  throw Error(ErrorCode::kSchemaValidate,
              std::string(kWriterEnv) + "=" + value + " names no shard writer; expected stream or spill",
              std::string("unset ") + kWriterEnv + " to write each shard once");
}

}  // namespace

TensorSpec tensor_spec(const std::string& name, const at::Tensor& tensor) {
  return {name, tensor.scalar_type(), tensor.sizes().vec()};
}

class StreamingShardWriter::Impl {
 public:
  Impl(std::filesystem::path dir, std::string stem, std::uint64_t part_bytes)
      : dir_(std::move(dir)), stem_(std::move(stem)), part_bytes_(part_bytes) {
    if (spill_requested()) spill_.emplace(dir_, stem_, part_bytes_);
  }

  ~Impl() {
    current_.reset();  // removes its temp file
    for (std::size_t i = 0; i < shard_keys_.size(); ++i) {
      std::error_code ignored;
      std::filesystem::remove(detail::shard_temp_path(dir_, stem_, i), ignored);
    }
  }

  void expect(std::vector<TensorSpec> upcoming) {
    expected_.assign(std::make_move_iterator(upcoming.begin()), std::make_move_iterator(upcoming.end()));
  }

  void add(const std::string& key, const at::Tensor& tensor) {
    if (spill_) return spill_->add(key, tensor);
    const TensorSpec spec = tensor_spec(key, tensor);
    if (!expected_.empty() && same_spec(expected_.front(), spec)) {
      expected_.pop_front();
    } else {
      expected_.clear();  // off the guess: shards opened before the next expect() are unguessed
    }
    const std::uint64_t bytes = byte_size(spec);
    // Same rule as ShardedWriter: flush before a tensor would push the shard past the limit; an oversized
    // tensor gets a shard of its own.
    if (!current_ ||
        (part_bytes_ > 0 && current_->tensor_count() > 0 && current_->data_bytes() + bytes > part_bytes_)) {
      close_shard();
      open_shard(&spec);
    }
    current_->add(key, tensor);
    shard_keys_.back().push_back(key);
    total_bytes_ += bytes;
  }

  std::vector<std::string> finish() {
    if (spill_) return spill_->finish();
    if (!current_) open_shard(nullptr);
    close_shard();
    return detail::publish_shards(dir_, stem_, part_bytes_ > 0, shard_keys_, total_bytes_);
  }

  std::size_t moved_shards() const { return moved_; }

 private:
  // The header length of the shard that starts with `first`, if the guessed tensors follow: the shard
  // rule applied to them until one would not fit.
  std::uint64_t guessed_header_bytes(const TensorSpec* first) const {
    std::vector<TensorInfo> planned;
    std::uint64_t offset = 0;
    const auto plan = [&](const TensorSpec& spec) {
      const std::uint64_t bytes = byte_size(spec);
      if (!planned.empty() && part_bytes_ > 0 && offset + bytes > part_bytes_) return false;
      planned.push_back({spec.name, safetensors_dtype_name(spec.dtype), spec.shape, offset, offset + bytes});
      offset += bytes;
      return true;
    };
    if (first != nullptr) plan(*first);
    for (const TensorSpec& spec : expected_) {
      if (!plan(spec)) break;
    }
    return detail::planned_header_bytes(planned, kShardMetadata);
  }

  void open_shard(const TensorSpec* first) {
    std::uint64_t reserved = 0;
    try {
      reserved = guessed_header_bytes(first);
    } catch (const Error&) {
      reserved = 0;  // a guessed dtype safetensors cannot store: add() reports the real one
    }
    std::filesystem::path temp = detail::shard_temp_path(dir_, stem_, shard_keys_.size());
    temp += ".tmp";
    current_ = std::make_unique<detail::ShardFile>(std::move(temp), reserved);
    shard_keys_.emplace_back();
  }

  void close_shard() {
    if (!current_) return;
    const std::filesystem::path closed = detail::shard_temp_path(dir_, stem_, shard_keys_.size() - 1);
    if (current_->finish(closed, kShardMetadata)) {
      ++moved_;
      spdlog::debug("{}: the layout guess was off; its data was moved once", closed.filename().string());
    }
    current_.reset();
  }

  std::filesystem::path dir_;
  std::string stem_;
  std::uint64_t part_bytes_;
  std::optional<ShardedWriter> spill_;  // MODELSLIM_SHARD_WRITER=spill
  std::unique_ptr<detail::ShardFile> current_;
  std::deque<TensorSpec> expected_;
  std::vector<std::vector<std::string>> shard_keys_;
  std::uint64_t total_bytes_ = 0;
  std::size_t moved_ = 0;
};

StreamingShardWriter::StreamingShardWriter(std::filesystem::path dir, std::string stem,
                                           std::uint64_t part_bytes)
    : impl_(std::make_unique<Impl>(std::move(dir), std::move(stem), part_bytes)) {}
StreamingShardWriter::~StreamingShardWriter() = default;
StreamingShardWriter::StreamingShardWriter(StreamingShardWriter&&) noexcept = default;
StreamingShardWriter& StreamingShardWriter::operator=(StreamingShardWriter&&) noexcept = default;

void StreamingShardWriter::expect(std::vector<TensorSpec> upcoming) {
  impl_->expect(std::move(upcoming));
}
void StreamingShardWriter::add(const std::string& key, const at::Tensor& tensor) {
  impl_->add(key, tensor);
}
std::vector<std::string> StreamingShardWriter::finish() {
  return impl_->finish();
}
std::size_t StreamingShardWriter::moved_shards() const {
  return impl_->moved_shards();
}

std::vector<TensorSpec> guess_rest_of_model(const ModelAdapter& model, const std::string& block_name,
                                            std::vector<TensorSpec> block,
                                            const std::vector<TensorSpec>& tail) {
  std::size_t index = 0;
  while (index < model.num_blocks() && model.block_name(index) != block_name) ++index;
  std::vector<TensorSpec> guess = block;
  const std::string prefix = block_name + ".";
  for (std::size_t next = index + 1; next < model.num_blocks(); ++next) {
    const std::string renamed = model.block_name(next) + ".";
    for (TensorSpec spec : block) {
      if (spec.name.compare(0, prefix.size(), prefix) == 0)
        spec.name = renamed + spec.name.substr(prefix.size());
      guess.push_back(std::move(spec));
    }
  }
  guess.insert(guess.end(), tail.begin(), tail.end());
  return guess;
}

}  // namespace modelslim
