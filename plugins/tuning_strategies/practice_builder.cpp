#include "practice_builder.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include "modelslim/error.hpp"

namespace modelslim::tuning {
namespace {

std::vector<std::string> split_path(const std::string& dotted) {
  std::vector<std::string> parts;
  std::string part;
  for (const char c : dotted) {
    if (c == '.') {
      parts.push_back(part);
      part.clear();
    } else {
      part += c;
    }
  }
  parts.push_back(part);
  return parts;
}

bool is_index(const std::string& segment) {
  return !segment.empty() &&
         std::all_of(segment.begin(), segment.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

std::string fallback_pattern(const std::string& name) {
  return name.find('*') != std::string::npos ? name : "*" + name + ".*";
}

YAML::Node with_excludes(const YAML::Node& processor, const std::vector<std::string>& patterns) {
  YAML::Node copy = YAML::Clone(processor);
  std::vector<std::string> exclude;
  if (copy["exclude"] && copy["exclude"].IsSequence()) {
    for (const auto& item : copy["exclude"]) exclude.push_back(item.as<std::string>());
  }
  for (const std::string& pattern : patterns) {
    if (std::find(exclude.begin(), exclude.end(), pattern) == exclude.end()) exclude.push_back(pattern);
  }
  YAML::Node list(YAML::NodeType::Sequence);
  for (const std::string& pattern : exclude) list.push_back(pattern);
  copy["exclude"] = list;
  return copy;
}

YAML::Node make_practice(const YAML::Node& spec, const std::string& config_id, const YAML::Node& label) {
  YAML::Node practice;
  practice["apiversion"] = "modelslim_v1";
  practice["metadata"]["config_id"] = config_id;
  if (label && !label.IsNull()) practice["metadata"]["label"] = YAML::Clone(label);
  practice["spec"] = YAML::Clone(spec);
  return practice;
}

void validate_processor_list(const ConfigNode& list, const HostServices& host) {
  list.require_sequence();
  for (const ConfigNode& item : list.items()) host.create_processor(item);
}

void validate_template_spec(const ConfigNode& spec, const HostServices& host) {
  spec.require_map();
  spec.check_keys({"runner", "process", "save", "dataset"});
  if (!spec.has("process")) spec.fail("missing required field 'process'");
  const ConfigNode process = spec["process"];
  validate_processor_list(process, host);
  const auto items = process.items();
  const bool has_linear_quant = std::any_of(items.begin(), items.end(), [](const ConfigNode& item) {
    return item.is_map() && item.get_string("type", "") == "linear_quant";
  });
  if (!has_linear_quant) {
    process.fail("the template must contain at least one linear_quant processor (it is what falls back)");
  }
  if (spec.has("save")) {
    spec["save"].require_sequence();
    for (const ConfigNode& item : spec["save"].items()) host.create_saver(item);
  }
  if (spec.has("runner"))
    spec.get_choice("runner", {"auto", "layer_wise", "model_wise", "dp_layer_wise"}, "auto");
}

YAML::Node first_linear_quant_qconfig(const YAML::Node& process) {
  for (const auto& item : process) {
    if (item["type"] && item["type"].as<std::string>() == "linear_quant") return YAML::Clone(item["qconfig"]);
  }
  return {};
}

std::vector<std::string> linear_quant_includes(const YAML::Node& process) {
  std::vector<std::string> includes;
  for (const auto& item : process) {
    if (!item["type"] || item["type"].as<std::string>() != "linear_quant") continue;
    if (!item["include"] || !item["include"].IsSequence() || item["include"].size() == 0) {
      includes.emplace_back("*");
      continue;
    }
    for (const auto& pattern : item["include"]) {
      const auto text = pattern.as<std::string>();
      if (std::find(includes.begin(), includes.end(), text) == includes.end()) includes.push_back(text);
    }
  }
  if (includes.empty()) includes.emplace_back("*");
  return includes;
}

void require_list_at(const ConfigNode& root, const std::string& dotted, const ConfigNode& field) {
  // std::optional + emplace: assigning a ConfigNode (or a YAML::Node) would rewrite the tree it points into.
  std::optional<ConfigNode> node(root);
  std::string walked;
  for (const std::string& segment : split_path(dotted)) {
    const std::string parent = walked.empty() ? "the template" : "'" + walked + "'";
    walked += (walked.empty() ? "" : ".") + segment;
    if (segment.empty()) field.fail("'" + dotted + "': empty path segment");
    if (node->is_sequence()) {
      if (!is_index(segment)) {
        field.fail("'" + dotted + "': " + parent + " is a list, so '" + segment + "' must be an index");
      }
      const std::size_t index = std::stoul(segment);
      if (index >= node->size()) {
        field.fail("'" + dotted + "': index " + segment + " is out of range (" + parent + " has " +
                   std::to_string(node->size()) + " items)");
      }
      const ConfigNode next = node->at(index);
      node.emplace(next);
    } else if (node->is_map()) {
      if (!node->has(segment))
        field.fail("'" + dotted + "': '" + walked + "' does not exist in the template");
      const ConfigNode next = (*node)[segment];
      node.emplace(next);
    } else {
      field.fail("'" + dotted + "': " + parent + " is a scalar, it has no '" + segment + "'");
    }
  }
  if (!node->is_sequence()) field.fail("'" + dotted + "' must point to a list in the template");
}

YAML::Node replace_list_at(const YAML::Node& root, const std::string& dotted,
                           const std::vector<std::string>& values) {
  YAML::Node copy = YAML::Clone(root);
  const std::vector<std::string> parts = split_path(dotted);
  YAML::Node node = copy;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    // reset() rebinds; operator= would overwrite the node in the tree.
    node.reset(node.IsSequence() ? node[std::stoul(parts[i])] : node[parts[i]]);
  }
  YAML::Node list(YAML::NodeType::Sequence);
  for (const std::string& value : values) list.push_back(value);
  if (node.IsSequence()) {
    node[std::stoul(parts.back())] = list;
  } else {
    node[parts.back()] = list;
  }
  return copy;
}

}  // namespace modelslim::tuning
