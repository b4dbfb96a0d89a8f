#include "modelslim/core/tune_checks.hpp"

#include <algorithm>
#include <set>

#include "modelslim/core/paths.hpp"
#include "modelslim/dataset.hpp"
#include "modelslim/error.hpp"
#include "modelslim/name_pattern.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim::core {
namespace {

constexpr const char* kDefaultSaver = "ascendv1_saver";  // what `quant` saves with when spec.save is empty

// Calls `visit(key, child)` for every mapping entry below `node`, depth first.
template <typename Visit>
void walk(const ConfigNode& node, const Visit& visit) {
  if (node.is_map()) {
    for (const std::string& key : node.keys()) {
      visit(key, node[key]);
      walk(node[key], visit);
    }
  } else if (node.is_sequence()) {
    for (const ConfigNode& item : node.items()) walk(item, visit);
  }
}

std::string joined_names(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

// The saver types of a save list (missing or empty: the default saver).
std::vector<std::string> saver_types(const YAML::Node& save) {
  std::vector<std::string> types;
  if (save && save.IsSequence()) {
    for (const auto& saver : save) {
      if (saver.IsMap() && saver["type"] && saver["type"].IsScalar()) types.push_back(saver["type"].Scalar());
    }
  }
  if (types.empty()) types.emplace_back(kDefaultSaver);
  return types;
}

// Empty when the evaluator reads one of `types`, else the reason.
std::string unreadable(const std::vector<std::string>& types, const std::string& evaluator_type) {
  const std::vector<std::string> readable = savers_readable_by(evaluator_type);
  if (readable.empty()) return {};
  for (const auto& type : types) {
    if (std::find(readable.begin(), readable.end(), type) != readable.end()) return {};
  }
  return "the '" + evaluator_type + "' evaluator reads only the output of " + joined_names(readable) +
         ", and this practice saves with " + joined_names(types);
}

const char* kSaverTip =
    "add {type: ascendv1_saver} to the save list (a practice may have several savers), or "
    "evaluate with a command evaluator that reads this format";

}  // namespace

void check_strategy_datasets(const ConfigNode& strategy) {
  walk(strategy, [](const std::string& key, const ConfigNode& value) {
    if ((key != "dataset" && key != "analysis_dataset") || !value.defined() || !value.yaml().IsScalar())
      return;
    try {
      resolve_dataset(value.as_string(), dataset_dirs());
    } catch (const Error& error) {
      value.fail(error.what());
    }
  });
}

std::vector<std::string> savers_readable_by(const std::string& evaluator_type) {
  // The builtin evaluator runs the deployed arithmetic from quant_model_description.json and the saved
  // integers, which only ascendv1_saver writes.
  if (evaluator_type == "builtin") return {kDefaultSaver};
  return {};
}

void check_strategy_savers(const ConfigNode& strategy, const std::string& evaluator_type) {
  bool found = false;
  walk(strategy, [&](const std::string& key, const ConfigNode& value) {
    if (key != "save") return;
    found = true;
    const std::string reason = unreadable(saver_types(value.yaml()), evaluator_type);
    if (!reason.empty()) value.fail(reason + " (" + kSaverTip + ")");
  });
  if (!found) {
    const std::string reason = unreadable(saver_types(YAML::Node()), evaluator_type);
    if (!reason.empty()) strategy.fail(reason + " (" + kSaverTip + ")");
  }
}

void check_practice_savers(const YAML::Node& practice, const std::string& candidate_id,
                           const std::string& evaluator_type) {
  const YAML::Node spec = practice["spec"];
  const std::string reason = unreadable(saver_types(spec ? spec["save"] : YAML::Node()), evaluator_type);
  if (!reason.empty())
    throw Error(ErrorCode::kSchemaValidate, "candidate " + candidate_id + ": " + reason, kSaverTip);
}

std::vector<std::string> model_module_names(const std::filesystem::path& model_path) {
  std::set<std::string> names;
  for (const std::string& tensor : SafetensorsCheckpoint::open_dir(model_path).names()) {
    for (auto dot = tensor.find('.'); dot != std::string::npos; dot = tensor.find('.', dot + 1))
      names.insert(tensor.substr(0, dot));
    names.insert(tensor);
  }
  return {names.begin(), names.end()};
}

bool names_some_module(const std::string& name, const std::vector<std::string>& modules) {
  // As the strategies turn a name into a fallback pattern: "model.layers.1" → "*model.layers.1.*".
  std::vector<std::string> patterns = expand_braces(name);
  if (name.find('*') == std::string::npos) {
    for (const auto& pattern : expand_braces(name)) patterns.push_back("*" + pattern + ".*");
  }
  return std::any_of(modules.begin(), modules.end(), [&](const std::string& module) {
    return std::any_of(patterns.begin(), patterns.end(),
                       [&](const std::string& pattern) { return glob_match(pattern, module); });
  });
}

void check_rollback_candidates(const ConfigNode& strategy, const std::vector<std::string>& modules) {
  const ConfigNode list = strategy["rollback_candidates"];
  if (!list.defined() || !list.is_sequence()) return;
  for (const ConfigNode& item : list.items()) {
    const std::string name = item.as_string();
    if (!names_some_module(name, modules)) {
      item.fail(
          "rollback candidate '" + name +
          "' names no module of the model (expected a module name such as 'model.layers.1', or a glob)");
    }
  }
}

}  // namespace modelslim::core
