// Helpers the tuning strategies share to turn a template into candidate practices: fallback patterns,
// exclude merging, dotted-path edits and config validation through the host.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "modelslim/config_node.hpp"
#include "modelslim/registrar.hpp"

namespace modelslim::tuning {

// A ranked name ("model.layers.2") as an exclude pattern that catches its linears ("*model.layers.2.*");
// names that already hold a '*' are the user's own patterns and are kept verbatim.
std::string fallback_pattern(const std::string& name);

// Appends `patterns` to the processor's `exclude` list, skipping those already present.
YAML::Node with_excludes(const YAML::Node& processor, const std::vector<std::string>& patterns);

// {apiversion: modelslim_v1, metadata: {config_id, label?}, spec}
YAML::Node make_practice(const YAML::Node& spec, const std::string& config_id, const YAML::Node& label);

// Validates a template spec ({runner, process, save, dataset}) by building every processor and saver with
// the host's factories, so a bad template fails before any model work. Requires a linear_quant.
void validate_template_spec(const ConfigNode& spec, const HostServices& host);

// Validates a processor list (an anti-outlier chain) the same way.
void validate_processor_list(const ConfigNode& list, const HostServices& host);

// The qconfig of the first linear_quant and the union of the linear_quants' include patterns: what the
// sensitivity probe quantizes.
YAML::Node first_linear_quant_qconfig(const YAML::Node& process);
std::vector<std::string> linear_quant_includes(const YAML::Node& process);

// Dotted paths into a YAML tree ("spec.process.1.exclude"; digit segments index lists).
// Throws Error(kSchemaValidate) naming `field` when a segment is missing, out of range, or the target
// is not a list.
void require_list_at(const ConfigNode& root, const std::string& dotted, const ConfigNode& field);
// Replaces the list at `dotted` (validated before) in a clone of `root`.
YAML::Node replace_list_at(const YAML::Node& root, const std::string& dotted,
                           const std::vector<std::string>& values);

}  // namespace modelslim::tuning
