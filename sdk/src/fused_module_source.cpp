#include "modelslim/fused_module_source.hpp"

#include <algorithm>
#include <set>

#include "modelslim/block.hpp"
#include "modelslim/model_adapter.hpp"

namespace modelslim {
namespace {

std::string leaf_of(const std::string& name) {
  const auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

std::string joined_leaves(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + leaf_of(name);
  return text;
}

}  // namespace

FusedModuleSource::~FusedModuleSource() = default;

std::vector<FusedModule> block_fused_modules(Block& block) {
  if (const auto* source = dynamic_cast<const FusedModuleSource*>(&block)) return source->fused_modules();
  std::vector<std::string> names;
  for (const Linear* linear : block.linears()) names.push_back(linear->name());
  const std::set<std::string> present(names.begin(), names.end());
  std::vector<FusedModule> modules;
  for (FusedModule module : fused_modules_of(names)) {
    auto& parts = module.parts;
    parts.erase(std::remove_if(parts.begin(), parts.end(),
                               [&](const std::string& part) { return present.count(part) == 0; }),
                parts.end());
    if (parts.size() > 1) modules.push_back(std::move(module));
  }
  return modules;
}

std::optional<std::vector<FusedModule>> model_fused_modules(const ModelAdapter& model) {
  if (const auto* source = dynamic_cast<const FusedModuleSource*>(&model)) return source->fused_modules();
  return std::nullopt;
}

std::vector<FusedFallback> fused_fallbacks(const std::vector<FusedModule>& modules,
                                           const NamePredicate& selected, const NamePredicate& excluded) {
  std::vector<FusedFallback> fallbacks;
  for (const FusedModule& module : modules) {
    FusedFallback fallback{module, {}, {}};
    for (const std::string& part : module.parts) {
      if (excluded(part)) {
        fallback.excluded.push_back(part);
      } else if (selected(part)) {
        fallback.extended.push_back(part);
      }
    }
    if (!fallback.excluded.empty() && !fallback.extended.empty()) fallbacks.push_back(std::move(fallback));
  }
  return fallbacks;
}

std::string describe_fused_fallback(const FusedFallback& fallback) {
  std::string excluded;
  for (const std::string& name : fallback.excluded) excluded += (excluded.empty() ? "" : ", ") + name;
  const bool one = fallback.excluded.size() == 1;
  return excluded + (one ? " is" : " are") + " excluded, so " + (one ? "its" : "their") + " fused sibling" +
         (fallback.extended.size() == 1 ? " " : "s ") + joined_leaves(fallback.extended) + " (one module " +
         fallback.module.name + " in vLLM and vllm-ascend) stay" +
         (fallback.extended.size() == 1 ? "s" : "") + " in float too";
}

}  // namespace modelslim
