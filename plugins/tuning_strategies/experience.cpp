#include "experience.hpp"

#include <algorithm>

#include "practice_builder.hpp"

namespace modelslim::tuning {

extern const char* const kExperienceTable;

namespace {

std::vector<std::string> keys_of(const ConfigNode& node) {
  return node.is_map() ? node.keys() : std::vector<std::string>{};
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

StandingHighSpec parse_standing_high_with_experience(const ConfigNode& config, const HostServices& host) {
  config.check_keys(
      {"type", "quant_type", "structure_configs", "metadata", "dataset", "save", "runner", "experience"});
  const ConfigNode table = config.has("experience")
                               ? parse_yaml_file(config["experience"].as_string())
                               : parse_yaml_string(kExperienceTable, "experience.yaml (shipped)");
  if (!config.has("quant_type")) config.fail("missing required field 'quant_type'");
  const std::string quant_type = config["quant_type"].as_string();
  if (!table.has(quant_type)) {
    config["quant_type"].fail("no experience for '" + quant_type + "' (known: " + joined(keys_of(table)) +
                              ")");
  }
  const ConfigNode experience = table[quant_type];
  const ConfigNode schemes = experience["structures"];

  if (!config.has("structure_configs")) config.fail("missing required field 'structure_configs'");
  const ConfigNode structures = config["structure_configs"];
  structures.require_sequence();
  if (structures.size() == 0) structures.fail("needs at least one structure ({type, include, exclude})");

  YAML::Node process(YAML::NodeType::Sequence);
  std::vector<std::string> float_patterns;  // structures the experience keeps in float
  for (const ConfigNode& structure : structures.items()) {
    structure.check_keys({"type", "include", "exclude"});
    if (!structure.has("type")) structure.fail("missing required field 'type'");
    const std::string type = structure["type"].as_string();
    if (!schemes.has(type)) {
      structure["type"].fail("unknown structure type '" + type + "' for " + quant_type +
                             " (known: " + joined(keys_of(schemes)) + ")");
    }
    const std::vector<std::string> include = structure.get_string_list("include", {"*"});
    const ConfigNode scheme = schemes[type];
    if (!scheme.is_map() && scheme.as_string() == "float") {
      float_patterns.insert(float_patterns.end(), include.begin(), include.end());
      continue;
    }
    YAML::Node linear_quant;
    linear_quant["type"] = "linear_quant";
    linear_quant["qconfig"] = YAML::Clone(scheme.yaml());
    YAML::Node include_list(YAML::NodeType::Sequence);
    for (const auto& pattern : include) include_list.push_back(pattern);
    linear_quant["include"] = include_list;
    YAML::Node exclude_list(YAML::NodeType::Sequence);
    for (const auto& pattern : structure.get_string_list("exclude", {})) exclude_list.push_back(pattern);
    linear_quant["exclude"] = exclude_list;
    process.push_back(linear_quant);
  }
  if (process.size() == 0) structures.fail("every structure stays float: nothing to quantize");
  YAML::Node merged(YAML::NodeType::Sequence);
  for (const auto& processor : process) merged.push_back(with_excludes(processor, float_patterns));

  YAML::Node spec;
  spec["runner"] = config.get_string("runner", "auto");
  spec["process"] = merged;
  if (config.has("save")) {
    spec["save"] = YAML::Clone(config["save"].yaml());
  } else {
    spec["save"].push_back(YAML::Load("{type: ascendv1_saver, part_file_size: 4}"));
  }
  if (config.has("dataset")) spec["dataset"] = config["dataset"].as_string();

  // Re-read the generated parts as a standing_high config, so they are validated like a user's.
  YAML::Node standing_high;
  standing_high["type"] = "standing_high";
  standing_high["anti_outlier_strategies"] = YAML::Clone(experience["anti_outlier_strategies"].yaml());
  standing_high["template"] = spec;
  YAML::Node metadata;
  metadata["config_id"] = quant_type + "_with_experience";
  if (config.has("metadata")) metadata = YAML::Clone(config["metadata"].yaml());
  standing_high["metadata"] = metadata;
  const ConfigNode generated(standing_high, config.path(),
                             config.file() + " (with " + quant_type + " experience)");
  return parse_standing_high(generated, host);
}

}  // namespace modelslim::tuning
