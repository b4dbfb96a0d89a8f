#include "engine_rules.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>
#include <map>

#include "deepseek_rules.hpp"
#include "modelslim/error.hpp"
#include "modelslim/fused_modules.hpp"
#include "moe_rules.hpp"

namespace modelslim::saver_rules {
namespace {

bool flag(const nlohmann::json& config, const char* key) {
  return config.contains(key) && config[key].is_boolean() && config[key].get<bool>();
}

std::string leaf_of(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::pair<double, double> integer_range(at::ScalarType type) {
  switch (type) {
    case at::kChar:
      return {std::numeric_limits<std::int8_t>::min(), std::numeric_limits<std::int8_t>::max()};
    case at::kByte:
      return {0, std::numeric_limits<std::uint8_t>::max()};
    case at::kShort:
      return {std::numeric_limits<std::int16_t>::min(), std::numeric_limits<std::int16_t>::max()};
    case at::kInt:
      return {std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()};
    default:
      break;
  }
  throw Error(ErrorCode::kUnexpected, "to_integer_checked: unsupported target type");
}

const char* type_label(at::ScalarType type) {
  switch (type) {
    case at::kChar:
      return "int8";
    case at::kByte:
      return "uint8";
    case at::kShort:
      return "int16";
    default:
      return "int32";
  }
}

}  // namespace

bool engine_has_bias(const nlohmann::json& hf_config, const std::string& linear_name) {
  std::string model_type = hf_config.value("model_type", std::string("llama"));
  // vLLM models/qwen2_moe.py: q/k/v bias=True, o_proj and every MLP (experts, shared expert) without;
  // models/qwen3_moe.py: q/k/v from attention_bias, the rest without — as their dense siblings.
  if (model_type == "qwen2_moe" || model_type == "qwen3_moe") model_type.resize(5);
  const std::string leaf = leaf_of(linear_name);
  const bool attention_bias = flag(hf_config, "attention_bias") || flag(hf_config, "bias");
  const bool qwen = model_type == "qwen2" || model_type == "qwen3";
  if (is_router(linear_name) || experts_module_of(linear_name)) return false;  // FusedMoE, routers: no bias
  if (is_deepseek_config(hf_config)) return false;  // models/deepseek_v2.py: bias=False on every linear
  if (leaf == "q_proj" || leaf == "k_proj" || leaf == "v_proj") {
    if (model_type == "qwen2") return true;
    if (model_type == "qwen3") return flag(hf_config, "attention_bias");
    return hf_config.contains("qkv_bias") ? flag(hf_config, "qkv_bias") : attention_bias;
  }
  if (leaf == "o_proj") return !qwen && attention_bias;
  if (leaf == "gate_proj" || leaf == "up_proj" || leaf == "down_proj")
    return !qwen && flag(hf_config, "mlp_bias");
  return false;
}

std::vector<std::string> llama_layer_linears(std::int64_t layer) {
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  std::vector<std::string> names;
  for (const char* leaf : {"q_proj", "k_proj", "v_proj", "o_proj"})
    names.push_back(prefix + "self_attn." + leaf);
  for (const char* leaf : {"gate_proj", "up_proj", "down_proj"}) names.push_back(prefix + "mlp." + leaf);
  return names;
}

std::int64_t num_hidden_layers(const nlohmann::json& hf_config) {
  if (!hf_config.contains("num_hidden_layers") || !hf_config["num_hidden_layers"].is_number_integer())
    return 0;
  return std::max<std::int64_t>(0, hf_config["num_hidden_layers"].get<std::int64_t>());
}

void check_fused_config(const std::string& saver, const std::string& engine_rule,
                        const std::vector<LinearQuantUse>& uses, const nlohmann::json& hf_config,
                        const SchemeKey& key) {
  for (std::int64_t layer = 0; layer < num_hidden_layers(hf_config); ++layer) {
    const std::vector<FusedModule> modules = is_deepseek_config(hf_config)
                                                 ? deepseek_fused_modules(hf_config, layer)
                                                 : fused_modules_of(layer_linears(hf_config, layer));
    for (const FusedModule& module : modules) {
      std::string parts;
      std::string first_key;
      bool differ = false;
      for (std::size_t i = 0; i < module.parts.size(); ++i) {
        const LinearQuantUse* use = deciding_use(uses, module.parts[i]);
        const std::string part_key = key(use);
        if (i == 0) first_key = part_key;
        differ = differ || part_key != first_key;
        parts += (i == 0 ? "" : ", ") + module.parts[i] + ": " +
                 (use == nullptr ? std::string("float")
                                 : use->describe() + " from " + processor_label(use->config));
      }
      if (!differ) continue;
      throw Error(ErrorCode::kUnsupported,
                  saver + ": " + module.name + " is one fused module in " + engine_rule +
                      ", but the practice saves its parts differently (" + parts + ")",
                  "quantize " + module.name +
                      "'s parts with one linear_quant config, or exclude one of them in the config that "
                      "quantizes the others (an exclusion extends to the whole fused module)");
    }
  }
}

void check_fused_block(const std::string& saver, const std::string& engine_rule,
                       const std::vector<std::pair<std::string, std::string>>& linear_keys,
                       const std::vector<FusedModule>& modules) {
  std::map<std::string, std::string> key_of(linear_keys.begin(), linear_keys.end());
  for (const FusedModule& module : modules) {
    std::string parts;
    bool differ = false;
    const std::string* first = nullptr;
    for (const std::string& part : module.parts) {
      const auto found = key_of.find(part);
      if (found == key_of.end()) continue;  // the adapter has no such linear
      const std::string& key = found->second;
      differ = differ || (first != nullptr && key != *first);
      if (first == nullptr) first = &found->second;
      parts += (parts.empty() ? "" : ", ") + part + ": " + (key.empty() ? std::string("float") : key);
    }
    if (!differ) continue;
    throw Error(ErrorCode::kUnsupported,
                saver + ": " + module.name + " is one fused module in " + engine_rule +
                    ", but its parts were quantized differently (" + parts + ")",
                "quantize " + module.name + "'s parts with one linear_quant config, or exclude all of them");
  }
}

at::Tensor to_integer_checked(const at::Tensor& values, at::ScalarType type, const std::string& tensor_name,
                              const std::string& saver) {
  const auto [lo, hi] = integer_range(type);
  if (!at::isFloatingType(values.scalar_type())) {
    // Integers: only the range can fail; min/max avoid a float64 copy of a large weight.
    if (values.numel() == 0 || values.scalar_type() == type) return values.contiguous();
    const auto mn = values.min().item<std::int64_t>();
    const auto mx = values.max().item<std::int64_t>();
    if (mn >= lo && mx <= hi) return values.to(type).contiguous();
  }
  const at::Tensor v = values.to(at::kDouble);
  const at::Tensor bad = v.isfinite().logical_not() | (v != at::round(v)) | (v < lo) | (v > hi);
  if (bad.any().item<bool>()) {
    const std::int64_t index = bad.reshape({-1}).nonzero()[0][0].item<std::int64_t>();
    const double value = v.reshape({-1})[index].item<double>();
    throw Error(ErrorCode::kUnsupported,
                saver + ": " + tensor_name + "[" + std::to_string(index) + "] = " + std::to_string(value) +
                    " does not fit its stored type " + type_label(type) + " [" +
                    std::to_string(static_cast<std::int64_t>(lo)) + ", " +
                    std::to_string(static_cast<std::int64_t>(hi)) + "]",
                "the value would wrap in the engine; check the layer's weights and scales (a zero row with a "
                "bias, a scale near 0) or keep the layer in float (exclude it)");
  }
  return v.to(type).contiguous();
}

}  // namespace modelslim::saver_rules
