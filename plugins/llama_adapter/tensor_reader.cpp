#include "tensor_reader.hpp"

#include <ATen/ATen.h>

#include <cstdlib>

#include "modelslim/buffer_pool.hpp"
#include "modelslim/env_names.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fp8_checkpoint.hpp"
#include "modelslim/non_block_head.hpp"

namespace modelslim::llama {
namespace {

// MODELSLIM_PREFETCH_BUDGET_MIB's number: digits only (a typo must not silently mean 0 or a huge budget).
std::uint64_t budget_mib(const std::string& text) {
  const bool digits =
      !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) {
    throw Error(ErrorCode::kSchemaValidate,
                std::string(env::kPrefetchBudgetMib) + "='" + text + "': expected a number of MiB or 'block'",
                "unset it to read ahead into the page cache only");
  }
  return std::stoull(text);
}

// Converted ahead: nothing by default (at the Llama-2-7B shape one block's 256 MiB of q/k/v/o in float32
// lifted the peak RSS from 1853 to 2123 MiB, past the 2 GiB target); MODELSLIM_PREFETCH_BUDGET_MIB=N
// allows N MiB, "block" (nullopt here) one block's checkpoint-dtype bytes. Read when the model is opened:
// prefetch errors are swallowed by BlockLoader, so a typo must fail here.
std::optional<std::uint64_t> prefetch_budget_from_env() {
  const char* setting = std::getenv(env::kPrefetchBudgetMib);
  if (setting == nullptr) return 0;
  if (std::string(setting) == "block") return std::nullopt;
  return budget_mib(setting) << 20;
}

}  // namespace

TensorReader::TensorReader(const std::filesystem::path& model_dir, std::string model_type,
                           std::optional<Fp8BlockSize> fp8)
    : model_dir_(model_dir),
      model_type_(std::move(model_type)),
      fp8_(std::move(fp8)),
      prefetch_budget_bytes_(prefetch_budget_from_env()),
      checkpoint_(SafetensorsCheckpoint::open_dir(model_dir)) {}

void TensorReader::check_shape(const std::string& name, at::IntArrayRef stored,
                               const std::vector<std::int64_t>& shape) const {
  check_tensor_shape(name, stored, shape, model_dir_);
}

std::uint64_t TensorReader::stored_bytes(const std::string& name) const {
  const TensorInfo& info = checkpoint_.info(name);
  return info.data_end - info.data_begin;
}

void TensorReader::require(const std::string& name) const {
  require_checkpoint_tensor(checkpoint_, name, model_dir_, model_type_);
}

at::ScalarType TensorReader::stored_dtype(const std::string& name,
                                          const std::vector<std::int64_t>& shape) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  require(name);
  const TensorInfo& info = checkpoint_.info(name);
  check_shape(name, info.shape, shape);
  return scalar_type_from_safetensors(info.dtype);
}

at::Tensor TensorReader::read(const std::string& name, const std::vector<std::int64_t>& shape,
                              bool as_float) {
  const std::lock_guard<std::mutex> lock(mutex_);
  require(name);
  if (as_float) {
    if (std::optional<at::Tensor> ready = take_ready(name, shape, at::kFloat)) return *ready;
    check_shape(name, checkpoint_.info(name).shape, shape);
    // FP8 weights are dequantized block-wise with their weight_scale_inv as they are read.
    if (is_fp8(name)) return load_float_weight(checkpoint_, name, fp8_);
    at::Tensor tensor = pooled_empty(shape, at::kFloat);
    checkpoint_.load_into(name, tensor);
    return tensor;
  }
  at::Tensor tensor = checkpoint_.load(name);
  check_shape(name, tensor.sizes(), shape);
  return tensor;
}

// Under the lock. Only a tensor prefetched in `dtype` (the mode may have changed since).
std::optional<at::Tensor> TensorReader::take_ready(const std::string& name,
                                                   const std::vector<std::int64_t>& shape,
                                                   at::ScalarType dtype) {
  const auto found = ready_.find(name);
  if (found == ready_.end() || found->second.scalar_type() != dtype) return std::nullopt;
  at::Tensor tensor = std::move(found->second);
  ready_.erase(found);
  check_shape(name, tensor.sizes(), shape);
  return tensor;
}

at::Tensor TensorReader::read_weight(const std::string& name, const std::vector<std::int64_t>& shape) {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    require(name);
    if (keeps_stored_dtype(name)) {
      const TensorInfo& info = checkpoint_.info(name);
      const at::ScalarType stored = scalar_type_from_safetensors(info.dtype);
      if (std::optional<at::Tensor> ready = take_ready(name, shape, stored)) return *ready;
      check_shape(name, info.shape, shape);
      at::Tensor tensor = pooled_empty(shape, stored);
      checkpoint_.load_into(name, tensor);
      return tensor;
    }
  }
  return read(name, shape, true);
}

bool TensorReader::keeps_stored_dtype(const std::string& name) const {
  const std::string& dtype = checkpoint_.info(name).dtype;
  return dtype == "BF16" || dtype == "F16";
}

bool TensorReader::is_fp8(const std::string& name) const {
  return checkpoint_.info(name).dtype == "F8_E4M3";
}

void TensorReader::drop_prefetched() {
  const std::lock_guard<std::mutex> lock(mutex_);
  ready_.clear();
}

void TensorReader::prefetch(const std::vector<TensorSpec>& specs) {
  drop_prefetched();  // another block's leftovers (the runner skipped or reordered blocks)
  std::uint64_t budget = prefetch_budget_bytes_.value_or(0);
  if (!prefetch_budget_bytes_) {  // "block": one block's checkpoint-dtype bytes
    for (const TensorSpec& spec : specs) {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (checkpoint_.contains(spec.name)) budget += stored_bytes(spec.name);
    }
  }
  std::uint64_t used = 0;
  for (const TensorSpec& spec : specs) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!checkpoint_.contains(spec.name)) continue;  // read() reports it
    const TensorInfo& info = checkpoint_.info(spec.name);
    if (info.shape != spec.shape) continue;  // read() reports it
    if (is_fp8(spec.name)) continue;         // dequantized when read (needs its scale)
    const at::ScalarType dtype = spec.as_float || !keeps_stored_dtype(spec.name)
                                     ? at::kFloat
                                     : scalar_type_from_safetensors(info.dtype);
    std::uint64_t bytes = c10::elementSize(dtype);
    for (const std::int64_t size : spec.shape) bytes *= static_cast<std::uint64_t>(size);
    if (used + bytes > budget) {
      checkpoint_.prefetch(spec.name);  // page cache only: no resident memory
      continue;
    }
    at::Tensor tensor = pooled_empty(spec.shape, dtype);
    checkpoint_.load_into(spec.name, tensor);
    used += bytes;
    ready_[spec.name] = std::move(tensor);
  }
}

}  // namespace modelslim::llama
