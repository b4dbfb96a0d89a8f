#include "modelslim/kv_cache_quant.hpp"

#include <ATen/ATen.h>

#include "modelslim/block.hpp"
#include "modelslim/deployed_model.hpp"
#include "modelslim/error.hpp"
#include "modelslim/quant_math.hpp"

namespace modelslim {

KvCacheAccess::~KvCacheAccess() = default;

at::Tensor kv_cache_channels(const at::Tensor& x) {
  // [batch, kv_heads, seq, dim] -> [batch, seq, kv_heads, dim] -> rows of kv_heads * dim channels
  return x.transpose(1, 2).reshape({-1, x.size(1) * x.size(3)}).to(at::kFloat);
}

at::Tensor fake_quantize_kv_cache(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& offset) {
  const std::int64_t channels = x.size(1) * x.size(3);
  if (scale.numel() != channels || offset.numel() != channels) {
    throw Error(ErrorCode::kSpec, "fake_quantize_kv_cache: " + std::to_string(scale.numel()) +
                                      " scales and " + std::to_string(offset.numel()) + " offsets for " +
                                      std::to_string(channels) + " cache channels (kv_heads * head_dim)");
  }
  const at::Tensor rows = fake_quantize(kv_cache_channels(x), scale.reshape({-1}).to(at::kFloat),
                                        offset.reshape({-1}).to(at::kFloat), 8);
  const at::Tensor bshd = rows.view({x.size(0), x.size(2), x.size(1), x.size(3)});
  return bshd.transpose(1, 2).to(x.scalar_type());
}

void KvCacheHook::pass(at::Tensor& key, at::Tensor& value) const {
  if (observer_) observer_(key, value);
  if (!params_) return;
  key = fake_quantize_kv_cache(key, params_->key_scale, params_->key_offset);
  value = fake_quantize_kv_cache(value, params_->value_scale, params_->value_offset);
}

namespace {

at::Tensor load_channels(const SafetensorsCheckpoint& saved, const std::string& name, std::int64_t channels) {
  if (!saved.contains(name)) {
    throw Error(ErrorCode::kInvalidModel, "C8 tensor " + name + " is missing from the saved safetensors",
                "save the model again with dynamic_cache and ascendv1_saver");
  }
  at::Tensor tensor = saved.load(name).to(at::kFloat).reshape({-1});
  if (tensor.numel() != channels) {
    throw Error(ErrorCode::kInvalidModel,
                "C8 tensor " + name + " has " + std::to_string(tensor.numel()) +
                    " values; expected kv_heads * head_dim = " + std::to_string(channels));
  }
  return tensor;
}

}  // namespace

void apply_deployed_kv_cache(const DeployedArtifact& artifact, Block& block) {
  const QuantDescription& description = artifact.description();
  const auto type = description.find("kv_cache_type");
  if (type == description.end() || type->second != "C8") return;
  auto* access = dynamic_cast<KvCacheAccess*>(&block);
  if (access == nullptr) {
    throw Error(ErrorCode::kUnsupported,
                "the artifact " + artifact.dir().string() +
                    " has an int8 KV cache (kv_cache_type C8) but block " + block.name() +
                    " cannot run one (its adapter does not implement KvCacheAccess)",
                "evaluate it with a serving engine, or quantize without dynamic_cache");
  }
  const std::string attention = access->attention_module();
  if (description.find(attention + ".k_proj.kv_cache_scale") == description.end()) {
    access->set_kv_cache_quant(std::nullopt);  // excluded from dynamic_cache: a float cache
    return;
  }
  const std::int64_t channels = access->kv_heads() * access->kv_head_dim();
  const SafetensorsCheckpoint& saved = artifact.tensors();
  access->set_kv_cache_quant(
      KvCacheQuantParams{load_channels(saved, attention + ".k_proj.kv_cache_scale", channels),
                         load_channels(saved, attention + ".k_proj.kv_cache_offset", channels),
                         load_channels(saved, attention + ".v_proj.kv_cache_scale", channels),
                         load_channels(saved, attention + ".v_proj.kv_cache_offset", channels)});
}

}  // namespace modelslim
