// KV-cache int8 (the reference's C8, processor `dynamic_cache`), since ABI 4.3. The keys and values an
// attention writes into its cache (keys after the q/k norm and RoPE, values after v_proj; the point where the
// reference observes them, DynamicCache.update, and where vllm-ascend quantizes them) are quantized per
// channel c = kv_head * head_dim + d with static parameters from calibration:
//   q = clamp(round_half_even(x / scale[c] + offset[c]), -128, 127),  x' = (q - offset[c]) * scale[c]
// (modelslim/quant_math.hpp). Blocks that can take it derive from the optional KvCacheAccess as well (found
// by dynamic_cast; llama_adapter's blocks do); the Block interface is unchanged.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "modelslim/export.hpp"

namespace modelslim {

class Block;
class DeployedArtifact;

// One attention's static cache parameters, each float32 [kv_heads * head_dim].
struct KvCacheQuantParams {
  at::Tensor key_scale;
  at::Tensor key_offset;
  at::Tensor value_scale;
  at::Tensor value_offset;
};

class MODELSLIM_SDK_API KvCacheAccess {
 public:
  virtual ~KvCacheAccess();
  // The attention module's full name ("model.layers.3.self_attn"): include/exclude patterns match it and the
  // saved tensors are named after it ("<attention>.k_proj.kv_cache_scale").
  virtual std::string attention_module() const = 0;
  virtual std::int64_t kv_heads() const = 0;
  virtual std::int64_t kv_head_dim() const = 0;
  // Called on every forward (full or cached) with the keys and values as the cache stores them, each
  // [batch, kv_heads, seq, head_dim], before any int8 round trip. An empty function removes the observer.
  using KvObserver = std::function<void(const at::Tensor& key, const at::Tensor& value)>;
  virtual void set_kv_observer(KvObserver observer) = 0;
  // From now on keys and values go through the int8 round trip before attention reads them and before the
  // cache stores them (nullopt: a float cache again).
  virtual void set_kv_cache_quant(std::optional<KvCacheQuantParams> params) = 0;
  virtual const std::optional<KvCacheQuantParams>& kv_cache_quant() const = 0;
};

// What a block implementing KvCacheAccess keeps, and the step its attention runs the keys and values
// through (observer first, then the round trip when parameters are set).
class MODELSLIM_SDK_API KvCacheHook {
 public:
  void set_observer(KvCacheAccess::KvObserver observer) { observer_ = std::move(observer); }
  void set_params(std::optional<KvCacheQuantParams> params) { params_ = std::move(params); }
  const std::optional<KvCacheQuantParams>& params() const { return params_; }
  void pass(at::Tensor& key, at::Tensor& value) const;

 private:
  KvCacheAccess::KvObserver observer_;
  std::optional<KvCacheQuantParams> params_;
};

// The int8 round trip of `x` [batch, kv_heads, seq, head_dim] with per-channel `scale`/`offset`
// [kv_heads * head_dim] (computed in float32, returned in x's dtype).
MODELSLIM_SDK_API at::Tensor fake_quantize_kv_cache(const at::Tensor& x, const at::Tensor& scale,
                                                    const at::Tensor& offset);

// Keys and values as [tokens, kv_heads * head_dim] rows (the layout the parameters index), float32.
MODELSLIM_SDK_API at::Tensor kv_cache_channels(const at::Tensor& x);

// The C8 tensors an ascendv1 artifact saved for `block`'s attention set on it (the deployed cache); a block
// without them keeps a float cache. Throws Error(kUnsupported) when the artifact is C8 (kv_cache_type) and
// the block cannot take it (no KvCacheAccess), and Error(kInvalidModel) naming a missing or misshapen tensor.
MODELSLIM_SDK_API void apply_deployed_kv_cache(const DeployedArtifact& artifact, Block& block);

}  // namespace modelslim
