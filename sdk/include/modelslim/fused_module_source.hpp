// An optional capability of blocks and model adapters: the groups of linears that inference engines load as
// one module (vLLM and vllm-ascend load q/k/v as `qkv_proj` and gate/up as `gate_up_proj`). A Block or
// ModelAdapter class that also derives from FusedModuleSource is asked through dynamic_cast; for the others
// the linear names decide (`fused_module_of`, modelslim/fused_modules.hpp). The Block and ModelAdapter
// interfaces are unchanged (since SDK ABI 4.1).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "modelslim/export.hpp"
#include "modelslim/fused_modules.hpp"

namespace modelslim {

class Block;
class ModelAdapter;

class MODELSLIM_SDK_API FusedModuleSource {
 public:
  virtual ~FusedModuleSource();
  // Full linear names. A Block lists its own fused modules; a ModelAdapter those of every block, without
  // loading any weight.
  virtual std::vector<FusedModule> fused_modules() const = 0;
};

// The block's fused modules: its own description when it derives from FusedModuleSource, else derived from
// its linear names (parts the block does not have are left out, modules with one part dropped).
MODELSLIM_SDK_API std::vector<FusedModule> block_fused_modules(Block& block);
// The adapter's description, or nullopt when it does not derive from FusedModuleSource.
MODELSLIM_SDK_API std::optional<std::vector<FusedModule>> model_fused_modules(const ModelAdapter& model);

// An exclusion (a fallback) that names some parts of a fused module while the same selection quantizes
// others. Engines load a fused module with one scheme, so the exclusion extends to its selected siblings.
struct FusedFallback {
  FusedModule module;
  std::vector<std::string> excluded;  // parts the exclusion names
  std::vector<std::string> extended;  // parts the selection would quantize, kept in float with them
};

using NamePredicate = std::function<bool(const std::string& name)>;
// For one selection (`selected`: included and not excluded; `excluded`: named by an exclude pattern): the
// fused modules it would split, each with the siblings the exclusion extends to. Empty when none is split.
MODELSLIM_SDK_API std::vector<FusedFallback> fused_fallbacks(const std::vector<FusedModule>& modules,
                                                             const NamePredicate& selected,
                                                             const NamePredicate& excluded);
// "model.layers.0.self_attn.q_proj is excluded, so its fused siblings k_proj, v_proj (one module
// model.layers.0.self_attn.qkv_proj in vLLM and vllm-ascend) stay in float too" — for the run's log.
MODELSLIM_SDK_API std::string describe_fused_fallback(const FusedFallback& fallback);

}  // namespace modelslim
