// Reads the checkpoint's tensors for the llama adapter: shape-checked against config.json, float32 ones
// converted straight from the mapping into pooled buffers (modelslim/buffer_pool.hpp). It can get a
// block's tensors ready ahead on another thread (BlockPrefetch): every byte into the page cache, and, when
// MODELSLIM_PREFETCH_BUDGET_MIB allows, as many tensors converted to float32 as fit the budget.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim::llama {

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;  // what config.json implies
  bool as_float = true;             // float32, else as read_weight gives it (the stored dtype)
};

class TensorReader {
 public:
  // `fp8`: config.json's block size when the checkpoint is FP8 (quant_method "fp8"), else nullopt.
  TensorReader(const std::filesystem::path& model_dir, std::string model_type,
               std::optional<Fp8BlockSize> fp8);

  bool contains(const std::string& name) const { return checkpoint_.contains(name); }
  // The tensor, float32 (as_float) or as stored; a prefetched one is handed over without reading again.
  at::Tensor read(const std::string& name, const std::vector<std::int64_t>& shape, bool as_float);
  // A linear weight in a pooled buffer of its stored dtype when that is bfloat16 or float16 (no float32
  // copy), else as read(name, shape, true); a prefetched one is handed over.
  at::Tensor read_weight(const std::string& name, const std::vector<std::int64_t>& shape);
  // The dtype read(name, shape, false) returns, from the header alone (existence and shape checked too).
  at::ScalarType stored_dtype(const std::string& name, const std::vector<std::int64_t>& shape) const;
  // Gets `specs` (one block's float32 tensors, in load order) ready; replaces what an earlier call kept.
  void prefetch(const std::vector<TensorSpec>& specs);
  void drop_prefetched();

 private:
  void require(const std::string& name) const;
  void check_shape(const std::string& name, at::IntArrayRef stored,
                   const std::vector<std::int64_t>& shape) const;
  std::uint64_t stored_bytes(const std::string& name) const;
  bool is_fp8(const std::string& name) const;
  bool keeps_stored_dtype(const std::string& name) const;  // bfloat16 or float16
  std::optional<at::Tensor> take_ready(const std::string& name, const std::vector<std::int64_t>& shape,
                                       at::ScalarType dtype);

  std::filesystem::path model_dir_;
  std::string model_type_;
  std::optional<Fp8BlockSize> fp8_;
  std::optional<std::uint64_t> prefetch_budget_bytes_;  // nullopt: one block's stored bytes
  SafetensorsCheckpoint checkpoint_;
  mutable std::mutex mutex_;                 // the checkpoint opens shards lazily; ready_ is shared
  std::map<std::string, at::Tensor> ready_;  // converted ahead by prefetch, taken by read/read_weight
};

}  // namespace modelslim::llama
