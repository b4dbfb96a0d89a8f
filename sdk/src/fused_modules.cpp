#include "modelslim/fused_modules.hpp"

#include <algorithm>
#include <array>

namespace modelslim {
namespace {

struct FusedRule {
  const char* fused;
  std::vector<const char*> parts;
};

// vLLM models/llama.py and qwen2.py packed_modules_mapping (also used by vllm-ascend's modelslim config).
const std::array<FusedRule, 2>& fused_rules() {
  static const std::array<FusedRule, 2> kRules = {FusedRule{"qkv_proj", {"q_proj", "k_proj", "v_proj"}},
                                                  FusedRule{"gate_up_proj", {"gate_proj", "up_proj"}}};
  return kRules;
}

}  // namespace

std::optional<FusedModule> fused_module_of(const std::string& linear_name) {
  const auto dot = linear_name.rfind('.');
  const std::string prefix = dot == std::string::npos ? "" : linear_name.substr(0, dot + 1);
  const std::string leaf = dot == std::string::npos ? linear_name : linear_name.substr(dot + 1);
  for (const FusedRule& rule : fused_rules()) {
    const bool member =
        std::any_of(rule.parts.begin(), rule.parts.end(), [&](const char* part) { return leaf == part; });
    if (!member) continue;
    FusedModule module{prefix + rule.fused, {}};
    for (const char* part : rule.parts) module.parts.push_back(prefix + part);
    return module;
  }
  return std::nullopt;
}

std::vector<FusedModule> fused_modules_of(const std::vector<std::string>& linear_names) {
  std::vector<FusedModule> modules;
  for (const std::string& name : linear_names) {
    auto module = fused_module_of(name);
    if (!module) continue;
    const bool seen = std::any_of(modules.begin(), modules.end(),
                                  [&](const FusedModule& known) { return known.name == module->name; });
    if (!seen) modules.push_back(std::move(*module));
  }
  return modules;
}

}  // namespace modelslim
