// Mixture-of-experts facts the savers share (Qwen3-MoE, Qwen2-MoE, Mixtral as Hugging Face names them), and
// the checks that follow from how vLLM and vllm-ascend load them: the routed experts of one layer are ONE
// FusedMoE module (`<prefix>.experts`, w13 = every expert's gate/up, w2 = every expert's down), created
// with the scheme of expert 0 — so all experts of a layer share one scheme, or all stay float. Facts and
// the engine files they come from: docs/savers.md ("Mixture of experts").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine_rules.hpp"
#include "practice_reading.hpp"

namespace modelslim::saver_rules {

// "model.layers.3.mlp.experts.17.up_proj" → "model.layers.3.mlp.experts" (Mixtral:
// "model.layers.3.block_sparse_moe.experts.5.w1" → "model.layers.3.block_sparse_moe.experts"); nullopt
// for any other linear (a shared expert included: vLLM loads it as an ordinary MLP).
std::optional<std::string> experts_module_of(const std::string& linear_name);

// Routers: `mlp.gate` (Qwen MoE), `block_sparse_moe.gate` (Mixtral), `mlp.shared_expert_gate` (Qwen2-MoE).
bool is_router(const std::string& linear_name);
// True when vLLM's model (vllm-ascend uses the same models) builds this router with the run's quant config,
// so a quantized router loads: the Qwen3-MoE `mlp.gate` (models/qwen3_moe.py, quant_config=quant_config).
// Qwen2-MoE's `mlp.gate` (quant_config=None), its `shared_expert_gate` (a plain torch.nn.Linear) and
// Mixtral's gate (quant_config=None) are float parameters: int8 weights would load as float values.
bool engine_quantizes_router(const nlohmann::json& hf_config, const std::string& linear_name);

// True for configs whose layers may be sparse: model_type qwen3_moe, qwen2_moe, mixtral, deepseek_v2,
// deepseek_v3 or kimi_k2 (deepseek_rules.hpp).
bool is_moe_config(const nlohmann::json& hf_config);
// The linear names of decoder layer `layer` as the checkpoint spells them: attention q/k/v/o, then the
// MLP — dense gate/up/down, or the sparse block (router, every expert's gate/up/down or w1/w3/w2, Qwen2-MoE's
// shared expert and its gate). Qwen MoE layers are sparse unless listed in mlp_only_layers or off the
// decoder_sparse_step (transformers' and vLLM's rule). DeepSeek: deepseek_layer_linears. Llama-family
// configs: llama_layer_linears.
std::vector<std::string> layer_linears(const nlohmann::json& hf_config, std::int64_t layer);

// One engine's MoE rules.
struct MoeEngine {
  std::string saver;         // "ascendv1_saver"
  std::string engine;        // "vllm-ascend"
  std::string experts_rule;  // why the experts of a layer need one scheme, with the engine files
  // The reason the engine cannot serve `use` on routed experts ("" when it can).
  std::function<std::string(const LinearQuantUse& use)> expert_refusal;
  std::string opt_out;  // appended to every alternative ("" for none)
};

// Config time (from the practice, for num_hidden_layers layers): the experts of each sparse layer get one
// scheme (key) or all stay float; every scheme chosen for experts is one the engine serves on MoE layers;
// routers the engine builds without a quant config stay float. Throws Error(kUnsupported) naming the saver,
// the processor, the linears and the alternative. No-op for non-MoE configs.
void check_moe_config(const MoeEngine& engine, const std::vector<LinearQuantUse>& uses,
                      const nlohmann::json& hf_config, const SchemeKey& key);
// Save time, on the real block: `linear_keys` maps every linear to its saved scheme ("" float).
void check_moe_block(const MoeEngine& engine,
                     const std::vector<std::pair<std::string, std::string>>& linear_keys,
                     const nlohmann::json& hf_config);

// Which kinds of linear each linear_quant config decides (is the last config selecting) over the model's
// layers: `experts` true when it decides some routed expert, `dense` when it decides any other linear or
// nothing at all (rules for dense linears then apply, as for a Llama).
struct UseScope {
  bool dense = false;
  bool experts = false;
};
std::vector<UseScope> use_scopes(const std::vector<LinearQuantUse>& uses, const nlohmann::json& hf_config);

}  // namespace modelslim::saver_rules
