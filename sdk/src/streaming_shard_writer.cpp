#include "modelslim/streaming_shard_writer.hpp"

#include <atomic>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <string_view>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "modelslim/env_names.hpp"
#include "modelslim/error.hpp"
#include "modelslim/model_adapter.hpp"
#include "modelslim/safetensors.hpp"
#include "modelslim/sharded_writer.hpp"
#include "shard_file.hpp"
#include "shard_naming.hpp"
#include "write_queue.hpp"

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

// How many bytes of enqueued tensors may wait for the disk: a Llama-2-7B block's quantized tensors (193
// MiB) fit, so a saver's save_block returns at once and the block's writes overlap the next block's work.
// Bounds how long the queue may keep tensors alive when the disk is slower than the compute.
constexpr std::uint64_t kQueueBudgetBytes = std::uint64_t{256} << 20;

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
    queue_.stop();     // no job touches the files below any more
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
    enqueue(key, tensor);
    queue_.drain();
  }

  // The layout (which shard, which offset) is decided here, in call order; the bytes are written by the
  // queue's thread. Checks that need no I/O (name, dtype) throw here and leave the writer usable.
  void enqueue(const std::string& key, const at::Tensor& tensor) {
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
    const bool new_shard =
        !open_ || (part_bytes_ > 0 && !shard_keys_.back().empty() && open_bytes_ + bytes > part_bytes_);
    const std::size_t shard = new_shard ? shard_keys_.size() : shard_keys_.size() - 1;
    detail::PendingTensor pending = detail::pending_tensor(temp_path(shard), key, tensor, false,
                                                           keys_.count(key) > 0, new_shard ? 0 : open_bytes_);
    if (new_shard) {
      close_shard();
      open_shard(&spec);
    }
    keys_.insert(key);
    shard_keys_.back().push_back(key);
    open_bytes_ += pending.bytes;
    total_bytes_ += pending.bytes;
    const std::uint64_t queued = pending.bytes;
    const std::int64_t version = tensor_version(pending.data);
    queue_.submit(
        [this, pending = std::move(pending), version] {
          if (tensor_version(pending.data) != version) changed_after_enqueue(pending.info.name);
          current_->add(pending);
        },
        queued);
  }

  std::vector<std::string> finish() {
    if (spill_) return spill_->finish();
    if (!open_) open_shard(nullptr);
    close_shard();
    queue_.drain();
    return detail::publish_shards(dir_, stem_, part_bytes_ > 0, shard_keys_, total_bytes_);
  }

  std::size_t moved_shards() const { return moved_; }

 private:
  std::filesystem::path temp_path(std::size_t shard) const {
    std::filesystem::path temp = detail::shard_temp_path(dir_, stem_, shard);
    temp += ".tmp";
    return temp;
  }

  // Inference tensors keep no version counter; nothing changes them in place.
  static std::int64_t tensor_version(const at::Tensor& tensor) {
    return tensor.is_inference() ? 0 : tensor._version();
  }

  [[noreturn]] static void changed_after_enqueue(const std::string& name) {
    throw Error(ErrorCode::kUnexpected,
                "tensor '" + name +
                    "' was changed in place after it was handed to the shard writer and before "
                    "its bytes were written",
                "keep a tensor given to StreamingShardWriter::enqueue unchanged, or pass it to add()");
  }

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
    queue_.submit([this, temp = temp_path(shard_keys_.size()),
                   reserved] { current_ = std::make_unique<detail::ShardFile>(temp, reserved); },
                  0);
    shard_keys_.emplace_back();
    open_ = true;
    open_bytes_ = 0;
  }

  void close_shard() {
    if (!open_) return;
    queue_.submit(
        [this, closed = detail::shard_temp_path(dir_, stem_, shard_keys_.size() - 1)] {
          if (current_->finish(closed, kShardMetadata)) {
            ++moved_;
            spdlog::debug("{}: the layout guess was off; its data was moved once",
                          closed.filename().string());
          }
          current_.reset();
        },
        0);
    open_ = false;
  }

  std::filesystem::path dir_;
  std::string stem_;
  std::uint64_t part_bytes_;
  std::optional<ShardedWriter> spill_;  // MODELSLIM_SHARD_WRITER=spill
  // The caller's view of the layout.
  std::deque<TensorSpec> expected_;
  std::vector<std::vector<std::string>> shard_keys_;
  std::unordered_set<std::string> keys_;
  bool open_ = false;             // a shard is open (its file is created by the queue)
  std::uint64_t open_bytes_ = 0;  // data in the open shard (its keys: shard_keys_.back())
  std::uint64_t total_bytes_ = 0;
  // Used by the queue's thread only (after finish(): by anyone).
  std::unique_ptr<detail::ShardFile> current_;
  std::atomic<std::size_t> moved_{0};
  detail::WriteQueue queue_{kQueueBudgetBytes};
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
void StreamingShardWriter::enqueue(const std::string& key, const at::Tensor& tensor) {
  impl_->enqueue(key, tensor);
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
