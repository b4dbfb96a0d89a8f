// Linears that inference engines fuse into one module: vLLM and vllm-ascend load q/k/v as `qkv_proj` and
// gate/up as `gate_up_proj` (their packed_modules_mapping for Llama-family models), so all parts of a fused
// module must be saved with one scheme, or all kept in float. Derived from the names alone, in one place
// (savers' checks, tune fallbacks).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

struct FusedModule {
  std::string name;                // "model.layers.0.self_attn.qkv_proj"
  std::vector<std::string> parts;  // "model.layers.0.self_attn.q_proj", "...k_proj", "...v_proj"
};

// The fused module that `linear_name` is a part of ("<prefix>.q_proj" → "<prefix>.qkv_proj" with its three
// parts), or nullopt for a linear that engines load on its own (o_proj, down_proj, ...).
MODELSLIM_SDK_API std::optional<FusedModule> fused_module_of(const std::string& linear_name);

// The fused modules that `linear_names` take part in, each once, in order of first appearance.
MODELSLIM_SDK_API std::vector<FusedModule> fused_modules_of(const std::vector<std::string>& linear_names);

}  // namespace modelslim
