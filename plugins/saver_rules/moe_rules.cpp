#include "moe_rules.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "deepseek_rules.hpp"
#include "modelslim/error.hpp"

namespace modelslim::saver_rules {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string model_type(const nlohmann::json& hf_config) {
  return hf_config.value("model_type", std::string("llama"));
}

std::int64_t moe_int_field(const nlohmann::json& hf_config, const char* key, std::int64_t fallback) {
  const auto found = hf_config.find(key);
  return found != hf_config.end() && found->is_number_integer() ? found->get<std::int64_t>() : fallback;
}

std::int64_t num_experts(const nlohmann::json& hf_config) {
  return std::max<std::int64_t>(
      0,
      moe_int_field(hf_config, model_type(hf_config) == "mixtral" ? "num_local_experts" : "num_experts", 0));
}

// transformers' Qwen2MoeDecoderLayer / Qwen3MoeDecoderLayer (and vLLM's): sparse unless in mlp_only_layers,
// every decoder_sparse_step-th layer.
bool sparse_layer(const nlohmann::json& hf_config, std::int64_t layer) {
  if (is_deepseek_config(hf_config)) return deepseek_sparse_layer(hf_config, layer);
  if (!is_moe_config(hf_config) || num_experts(hf_config) == 0) return false;
  if (model_type(hf_config) == "mixtral") return true;
  const auto only = hf_config.find("mlp_only_layers");
  if (only != hf_config.end() && only->is_array()) {
    for (const auto& entry : *only) {
      if (entry.is_number_integer() && entry.get<std::int64_t>() == layer) return false;
    }
  }
  const std::int64_t step = std::max<std::int64_t>(1, moe_int_field(hf_config, "decoder_sparse_step", 1));
  return (layer + 1) % step == 0;
}

std::string use_label(const LinearQuantUse* use) {
  return use == nullptr ? std::string("float") : use->describe() + " from " + processor_label(use->config);
}

[[noreturn]] void refuse(const MoeEngine& engine, const std::string& what, const std::string& alternative) {
  throw Error(ErrorCode::kUnsupported, engine.saver + ": " + what,
              engine.opt_out.empty() ? alternative : alternative + "; " + engine.opt_out);
}

std::string split_message(const MoeEngine& engine, const std::string& module, const std::string& first,
                          const std::string& first_label, const std::string& other,
                          const std::string& other_label) {
  return module + " is one FusedMoE module in " + engine.engine + " (" + engine.experts_rule +
         "), but its experts are saved differently (" + first + ": " + first_label + ", " + other + ": " +
         other_label + ")";
}

std::string split_alternative(const std::string& module) {
  return "quantize every expert of a layer with one linear_quant config (include: ['*mlp.experts.*']), or "
         "keep them all in float (exclude: ['" +
         module + ".*'])";
}

std::string router_message(const MoeEngine& engine, const nlohmann::json& hf_config,
                           const std::string& router) {
  // DeepSeek, Kimi-K2: models/deepseek_v2.py builds `mlp.gate` as a GateLinear without a quant config.
  const std::string file = is_deepseek_config(hf_config) ? "deepseek_v2" : model_type(hf_config);
  return router + " is quantized, but " + engine.engine + " builds the " + model_type(hf_config) +
         " router without a quantization config (vLLM models/" + file +
         ".py: quant_config=None, a GateLinear, or a plain torch.nn.Linear for shared_expert_gate): its int8 "
         "weight would load as float values and the scales would be dropped";
}

constexpr const char* kRouterAlternative =
    "keep the routers in float (exclude: ['*mlp.gate', '*shared_expert_gate', '*block_sparse_moe.gate']), as "
    "the reference's Qwen3-MoE practices do";

void check_layer_experts(const MoeEngine& engine, const std::vector<LinearQuantUse>& uses,
                         const nlohmann::json& hf_config, const SchemeKey& key, std::int64_t layer) {
  const LinearQuantUse* first_use = nullptr;
  std::string first_name, first_key, module;
  for (const std::string& name : layer_linears(hf_config, layer)) {
    if (is_router(name)) {
      const LinearQuantUse* use = deciding_use(uses, name);
      if (use != nullptr && !engine_quantizes_router(hf_config, name))
        refuse(engine, processor_label(use->config) + ": " + router_message(engine, hf_config, name),
               kRouterAlternative);
      continue;
    }
    const auto experts = experts_module_of(name);
    if (!experts) continue;
    const LinearQuantUse* use = deciding_use(uses, name);
    const std::string this_key = key(use);
    if (module.empty()) {
      module = *experts;
      first_use = use;
      first_name = name;
      first_key = this_key;
    } else if (this_key != first_key) {
      refuse(engine, split_message(engine, module, first_name, use_label(first_use), name, use_label(use)),
             split_alternative(module));
    }
    if (use == nullptr) continue;
    const std::string reason = engine.expert_refusal(*use);
    if (reason.empty()) continue;
    refuse(engine,
           processor_label(use->config) + " quantizes the routed experts of " + module + " as " +
               use->describe() + ", which " + engine.engine + " cannot serve on MoE layers: " + reason,
           "quantize the experts W8A8_DYNAMIC (act int8 per_token, weight int8 per_channel) in their own "
           "linear_quant config, or exclude them (exclude: ['*mlp.experts.*'])");
  }
}

}  // namespace

std::optional<std::string> experts_module_of(const std::string& linear_name) {
  const std::string marker = ".experts.";
  const auto at = linear_name.rfind(marker);
  if (at == std::string::npos) return std::nullopt;
  std::size_t i = at + marker.size();
  const std::size_t digits = i;
  while (i < linear_name.size() && std::isdigit(static_cast<unsigned char>(linear_name[i]))) ++i;
  if (i == digits || i >= linear_name.size() || linear_name[i] != '.') return std::nullopt;
  if (linear_name.find('.', i + 1) != std::string::npos || i + 1 == linear_name.size()) return std::nullopt;
  return linear_name.substr(0, at + marker.size() - 1);
}

bool is_router(const std::string& linear_name) {
  return ends_with(linear_name, ".mlp.gate") || ends_with(linear_name, ".block_sparse_moe.gate") ||
         ends_with(linear_name, ".mlp.shared_expert_gate");
}

bool engine_quantizes_router(const nlohmann::json& hf_config, const std::string& linear_name) {
  return model_type(hf_config) == "qwen3_moe" && ends_with(linear_name, ".mlp.gate");
}

bool is_moe_config(const nlohmann::json& hf_config) {
  const std::string type = model_type(hf_config);
  return type == "qwen3_moe" || type == "qwen2_moe" || type == "mixtral" || is_deepseek_config(hf_config);
}

std::vector<std::string> layer_linears(const nlohmann::json& hf_config, std::int64_t layer) {
  if (is_deepseek_config(hf_config)) return deepseek_layer_linears(hf_config, layer);
  std::vector<std::string> names = llama_layer_linears(layer);
  if (!sparse_layer(hf_config, layer)) return names;
  names.resize(4);  // attention; the sparse block replaces the dense MLP
  const std::string prefix = "model.layers." + std::to_string(layer) + ".";
  const bool mixtral = model_type(hf_config) == "mixtral";
  const std::string block = prefix + (mixtral ? "block_sparse_moe." : "mlp.");
  names.push_back(block + "gate");
  for (std::int64_t e = 0; e < num_experts(hf_config); ++e) {
    const std::string expert = block + "experts." + std::to_string(e) + ".";
    for (const char* leaf : mixtral ? std::vector<const char*>{"w1", "w3", "w2"}
                                    : std::vector<const char*>{"gate_proj", "up_proj", "down_proj"})
      names.push_back(expert + leaf);
  }
  if (model_type(hf_config) == "qwen2_moe" &&
      moe_int_field(hf_config, "shared_expert_intermediate_size", 0) > 0) {
    for (const char* leaf : {"gate_proj", "up_proj", "down_proj"})
      names.push_back(block + "shared_expert." + leaf);
    names.push_back(block + "shared_expert_gate");
  }
  return names;
}

void check_moe_config(const MoeEngine& engine, const std::vector<LinearQuantUse>& uses,
                      const nlohmann::json& hf_config, const SchemeKey& key) {
  if (!is_moe_config(hf_config)) return;
  for (std::int64_t layer = 0; layer < num_hidden_layers(hf_config); ++layer) {
    if (sparse_layer(hf_config, layer)) check_layer_experts(engine, uses, hf_config, key, layer);
  }
}

void check_moe_block(const MoeEngine& engine,
                     const std::vector<std::pair<std::string, std::string>>& linear_keys,
                     const nlohmann::json& hf_config) {
  std::map<std::string, std::pair<std::string, std::string>> first_of;  // module → (linear, key)
  for (const auto& [name, key] : linear_keys) {
    if (is_router(name) && !key.empty() && !engine_quantizes_router(hf_config, name))
      refuse(engine, router_message(engine, hf_config, name), kRouterAlternative);
    const auto module = experts_module_of(name);
    if (!module) continue;
    const auto [found, inserted] = first_of.emplace(*module, std::make_pair(name, key));
    if (inserted || found->second.second == key) continue;
    const auto label = [](const std::string& k) { return k.empty() ? std::string("float") : k; };
    refuse(engine,
           split_message(engine, *module, found->second.first, label(found->second.second), name, label(key)),
           split_alternative(*module));
  }
}

std::vector<UseScope> use_scopes(const std::vector<LinearQuantUse>& uses, const nlohmann::json& hf_config) {
  std::vector<UseScope> scopes(uses.size());
  std::vector<bool> decides(uses.size(), false);
  for (std::int64_t layer = 0; layer < num_hidden_layers(hf_config); ++layer) {
    for (const std::string& name : layer_linears(hf_config, layer)) {
      const LinearQuantUse* use = deciding_use(uses, name);
      if (use == nullptr) continue;
      const auto index = static_cast<std::size_t>(use - uses.data());
      decides[index] = true;
      (experts_module_of(name) ? scopes[index].experts : scopes[index].dense) = true;
    }
  }
  for (std::size_t i = 0; i < uses.size(); ++i) scopes[i].dense = scopes[i].dense || !decides[i];
  return scopes;
}

}  // namespace modelslim::saver_rules
