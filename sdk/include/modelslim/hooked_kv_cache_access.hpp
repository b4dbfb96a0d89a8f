// KvCacheAccess implemented once (since SDK 4.4): a block whose attention caches `kv_heads` heads of
// `head_dim` channels derives from HookedKvCacheAccess instead of KvCacheAccess, and runs its keys and values
// through kv_cache_hook().pass(...) where its cache would store them. The observer and the int8 parameters
// live in the KvCacheHook it holds; the interface's six methods need no code in the block.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "modelslim/export.hpp"
#include "modelslim/kv_cache_quant.hpp"

namespace modelslim {

class MODELSLIM_SDK_API HookedKvCacheAccess : public KvCacheAccess {
 public:
  // `attention_module`: the attention's full name ("model.layers.3.self_attn").
  HookedKvCacheAccess(std::string attention_module, std::int64_t kv_heads, std::int64_t head_dim)
      : attention_module_(std::move(attention_module)), kv_heads_(kv_heads), head_dim_(head_dim) {}
  ~HookedKvCacheAccess() override;

  std::string attention_module() const override { return attention_module_; }
  std::int64_t kv_heads() const override { return kv_heads_; }
  std::int64_t kv_head_dim() const override { return head_dim_; }
  void set_kv_observer(KvObserver observer) override { hook_.set_observer(std::move(observer)); }
  void set_kv_cache_quant(std::optional<KvCacheQuantParams> params) override {
    hook_.set_params(std::move(params));
  }
  const std::optional<KvCacheQuantParams>& kv_cache_quant() const override { return hook_.params(); }

  // The step the block's attention runs its keys and values through (observer, then the int8 round trip).
  const KvCacheHook& kv_cache_hook() const { return hook_; }

 private:
  std::string attention_module_;
  std::int64_t kv_heads_;
  std::int64_t head_dim_;
  KvCacheHook hook_;
};

}  // namespace modelslim
