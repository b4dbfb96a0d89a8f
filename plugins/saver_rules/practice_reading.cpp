#include "practice_reading.hpp"

#include "modelslim/fused_modules.hpp"
#include "modelslim/name_pattern.hpp"

namespace modelslim::saver_rules {
namespace {

void flatten_into(const ConfigNode& config, std::vector<ConfigNode>& out) {
  if (config.is_map() && config.get_string("type", "") == "group" && config.has("configs") &&
      config["configs"].is_sequence()) {
    for (const ConfigNode& child : config["configs"].items()) flatten_into(child, out);
    return;
  }
  out.push_back(config);
}

bool any_match(const std::vector<std::string>& patterns, const std::string& name) {
  for (const std::string& pattern : patterns) {
    for (const std::string& expanded : expand_braces(pattern)) {
      if (glob_match(expanded, name)) return true;
    }
  }
  return false;
}

// linear_quant's qconfig rules (plugins/linear_quant/qconfig.cpp): act absent, float or method none means
// weight-only; per_token is dynamic, anything else static; per_group defaults to 128.
LinearQuantUse read_use(const ConfigNode& config) {
  LinearQuantUse use{config};
  const ConfigNode qconfig = config["qconfig"];
  const ConfigNode weight = qconfig["weight"];
  use.weight_bits = weight.get_string("dtype", "int8") == "int4" ? 4 : 8;
  use.weight_symmetric = weight.get_bool("symmetric", true);
  if (weight.get_string("scope", "") == "per_group") {
    use.group_size = weight["ext"].defined() ? weight["ext"].get_int("group_size", 128) : 128;
  }
  const ConfigNode act = qconfig["act"];
  if (act.defined() && act.get_string("dtype", "int8") != "float" &&
      act.get_string("method", "minmax") != "none") {
    use.act_mode = act.get_string("scope", "") == "per_token" ? ActivationQuantMode::kDynamicPerToken
                                                              : ActivationQuantMode::kStaticPerTensor;
    use.act_symmetric = act.get_bool("symmetric", true);
  }
  if (act.defined() && act.get_string("scope", "") == "pd_mix" &&
      use.act_mode != ActivationQuantMode::kNone) {
    use.scheme = "W8A8_MIX";
  } else if (use.act_mode == ActivationQuantMode::kNone) {
    use.scheme = use.weight_bits == 4 ? "W4A16" : "W8A16";
  } else if (use.act_mode == ActivationQuantMode::kDynamicPerToken) {
    use.scheme = use.weight_bits == 4 ? "W4A8_DYNAMIC" : "W8A8_DYNAMIC";
  } else {
    use.scheme = "W8A8";
  }
  use.include = config.get_string_list("include", {"*"});
  use.exclude = config.get_string_list("exclude", {});
  return use;
}

}  // namespace

std::vector<ConfigNode> flatten_processors(const std::vector<ConfigNode>& processors) {
  std::vector<ConfigNode> flat;
  for (const ConfigNode& config : processors) flatten_into(config, flat);
  return flat;
}

bool LinearQuantUse::selects(const std::string& linear_name) const {
  if (!any_match(include, linear_name) || any_match(exclude, linear_name)) return false;
  // As linear_quant does on the block: an excluded part keeps its whole fused module in float.
  const auto module = fused_module_of(linear_name);
  if (!module) return true;
  for (const std::string& part : module->parts) {
    if (any_match(exclude, part)) return false;
  }
  return true;
}

std::string LinearQuantUse::describe() const {
  std::string text = scheme + (group_size > 0 ? " per_group " + std::to_string(group_size) : " per_channel");
  text += weight_symmetric ? " symmetric" : " asymmetric";
  return text;
}

std::vector<LinearQuantUse> linear_quant_uses(const std::vector<ConfigNode>& flat_processors) {
  std::vector<LinearQuantUse> uses;
  for (const ConfigNode& config : flat_processors) {
    if (config.get_string("type", "") == "linear_quant" && config.has("qconfig"))
      uses.push_back(read_use(config));
  }
  return uses;
}

const LinearQuantUse* deciding_use(const std::vector<LinearQuantUse>& uses, const std::string& linear_name) {
  const LinearQuantUse* decided = nullptr;
  for (const LinearQuantUse& use : uses) {
    if (use.selects(linear_name)) decided = &use;
  }
  return decided;
}

std::vector<ConfigNode> asymmetric_smoothing(const std::vector<ConfigNode>& flat_processors) {
  std::vector<ConfigNode> found;
  for (const ConfigNode& config : flat_processors) {
    const std::string type = config.get_string("type", "");
    if ((type == "iter_smooth" || type == "smooth_quant") && config.has("symmetric") &&
        !config["symmetric"].as_bool())
      found.push_back(config);
  }
  return found;
}

std::string processor_label(const ConfigNode& config) {
  return config.path() + " (" + config.get_string("type", "?") + ")";
}

}  // namespace modelslim::saver_rules
