// Engine facts the in-tree savers share (see docs/savers.md for the engine files and versions they come
// from): which linears an engine's model gives a bias, fused modules whose parts must agree, and integer
// narrowing that refuses instead of wrapping.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/fused_modules.hpp"
#include "modelslim/linear.hpp"
#include "practice_reading.hpp"

namespace modelslim::saver_rules {

// True when vLLM's model for this config has a bias parameter for `linear_name` (models/llama.py:
// q/k/v from `qkv_bias`, else `attention_bias` or `bias`; o_proj from `attention_bias` or `bias`; the MLP
// from `mlp_bias`; models/qwen2.py: q/k/v always, o_proj and the MLP never; models/qwen3.py: q/k/v from
// `attention_bias`; models/deepseek_v2.py: none). A bias the model has no parameter for is skipped by the
// loader, silently.
bool engine_has_bias(const nlohmann::json& hf_config, const std::string& linear_name);

// The linear names of decoder layer `layer` as Llama-family checkpoints (and vLLM's loaders) spell them.
// Config-time checks only: the adapter knows the real names once a block is loaded.
std::vector<std::string> llama_layer_linears(std::int64_t layer);
// config.json num_hidden_layers (0 when absent or not a positive integer).
std::int64_t num_hidden_layers(const nlohmann::json& hf_config);

// The key under which an engine compares the parts of a fused module: equal keys load as one module.
// An empty key means "kept in float".
using SchemeKey = std::function<std::string(const LinearQuantUse* use)>;
// Config time: every fused module of every layer must get one key from the practice's linear_quant
// configs. Throws Error(kUnsupported) naming the saver, the engine, the parts and their processors.
void check_fused_config(const std::string& saver, const std::string& engine_rule,
                        const std::vector<LinearQuantUse>& uses, const nlohmann::json& hf_config,
                        const SchemeKey& key);
// Save time, on the real block: the parts of each of the block's fused modules (`block_fused_modules`)
// must have equal keys (empty: float).
void check_fused_block(const std::string& saver, const std::string& engine_rule,
                       const std::vector<std::pair<std::string, std::string>>& linear_keys,
                       const std::vector<FusedModule>& modules);

// `values` as integer type `type`, refusing (Error kUnsupported naming `tensor_name`) any value that is not
// finite, not integral, or outside the type's range — never a wrap.
at::Tensor to_integer_checked(const at::Tensor& values, at::ScalarType type, const std::string& tensor_name,
                              const std::string& saver);

}  // namespace modelslim::saver_rules
