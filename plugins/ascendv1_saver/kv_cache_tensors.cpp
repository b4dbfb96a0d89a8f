#include "kv_cache_tensors.hpp"

#include <ATen/ATen.h>

#include "modelslim/kv_cache_quant.hpp"

namespace modelslim::ascendv1 {

std::vector<TypedTensor> kv_cache_tensors(Block& block) {
  const auto* access = dynamic_cast<const KvCacheAccess*>(&block);
  if (access == nullptr || !access->kv_cache_quant()) return {};
  const KvCacheQuantParams& params = *access->kv_cache_quant();
  const std::string attention = access->attention_module();
  const auto channels = [](const at::Tensor& tensor) {
    return tensor.to(at::kFloat).reshape({-1}).contiguous();
  };
  return {{attention + ".k_proj.kv_cache_scale", channels(params.key_scale), "C8"},
          {attention + ".k_proj.kv_cache_offset", channels(params.key_offset), "C8"},
          {attention + ".v_proj.kv_cache_scale", channels(params.value_scale), "C8"},
          {attention + ".v_proj.kv_cache_offset", channels(params.value_offset), "C8"}};
}

}  // namespace modelslim::ascendv1
