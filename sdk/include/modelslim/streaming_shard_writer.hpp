// Splits saved tensors into shards of at most `part_bytes` like ShardedWriter — same shard assignment, same
// file names, same bytes — but writes each tensor's data once, straight into its shard's file.
//
// Why a layout guess: a safetensors file starts with its header, whose length depends on every tensor in
// the file, and ShardedWriter's byte-identical output leaves no slack for a reserved, padded region. So a
// shard's data is written after a header region sized from the tensors the saver says will come
// (expect(): names, dtypes and shapes are known before the quantized data exists). When the shard
// closes, the real header is written in front of the data (pwrite). If the guess had the wrong length the
// data is moved inside the file first (one read + write of that shard, what ShardedWriter pays for every
// shard): a wrong guess costs time, never bytes.
//
// Atomicity as ShardedWriter: a shard is written under a temp name, fsynced, closed (both checked) and
// renamed; without a successful finish() the destructor removes every file it made.
// MODELSLIM_SHARD_WRITER=spill selects ShardedWriter's spill-then-copy path (tests compare the two).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

class ModelAdapter;

// What a shard's header records about one tensor.
struct TensorSpec {
  std::string name;
  at::ScalarType dtype = at::kFloat;
  std::vector<std::int64_t> shape;
};

// The spec `tensor` will have when written under `name`.
MODELSLIM_SDK_API TensorSpec tensor_spec(const std::string& name, const at::Tensor& tensor);

class MODELSLIM_SDK_API StreamingShardWriter {
 public:
  // `stem`: "quant_model_weights" → quant_model_weights.safetensors or quant_model_weights-00001-of-00002...
  StreamingShardWriter(std::filesystem::path dir, std::string stem, std::uint64_t part_bytes);
  ~StreamingShardWriter();
  StreamingShardWriter(StreamingShardWriter&&) noexcept;
  StreamingShardWriter& operator=(StreamingShardWriter&&) noexcept;

  // The tensors the next add() calls will bring, in order (replaces the previous guess). Optional and
  // allowed to be wrong or short; a shard opened without a matching guess has its data moved once.
  void expect(std::vector<TensorSpec> upcoming);
  // Writes `tensor` (its bytes are on their way to the file when add() returns).
  void add(const std::string& key, const at::Tensor& tensor);
  // Like add(), but returns at once (since SDK 4.7): the writer keeps a reference to `tensor` and a
  // background thread writes it, in call order, while the caller goes on (a saver's save_block, so that
  // a block's writes overlap the next block's calibration). The caller must not change `tensor` in place
  // until finish(); a change made through ATen before the bytes are written is caught (an Error naming the
  // tensor), one made through a raw pointer is not. At most 256 MiB of tensors wait: beyond that enqueue()
  // blocks until the disk catches up. Name and dtype errors throw here; write errors at a later enqueue(),
  // add() or finish().
  void enqueue(const std::string& key, const at::Tensor& tensor);
  // Waits for enqueued tensors, closes the last shard, renames shards and writes the index when sharded.
  // Returns the file names. A failed write, fsync, close or rename is an Error naming the file.
  std::vector<std::string> finish();
  // Shards whose data had to be moved because the guess gave another header length (benchmarks, tests).
  std::size_t moved_shards() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// The guess a layer-wise saver gives expect() when saving block `block_name`: this block's tensors, then
// the same for every later block of `model` (the block-name prefix replaced), then `tail` (what finish()
// writes). When `block_name` is not one of the model's blocks: this block's tensors, then `tail`.
MODELSLIM_SDK_API std::vector<TensorSpec> guess_rest_of_model(const ModelAdapter& model,
                                                              const std::string& block_name,
                                                              std::vector<TensorSpec> block,
                                                              const std::vector<TensorSpec>& tail);

}  // namespace modelslim
