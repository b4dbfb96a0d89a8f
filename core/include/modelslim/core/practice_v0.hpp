// `apiversion: modelslim_v0` practices (the reference's v0 keys: anti_cfg → AntiOutlierConfig, calib_cfg →
// QuantConfig, calib_params → Calibrator, calib_save_params → save) translated into the modelslim_v1 tree the
// pipeline runs. The subset dense and MoE W8A8/W8A16 practices use is translated; everything else is refused
// naming its key (docs/migration.md lists both).
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "modelslim/config_node.hpp"

namespace modelslim::core {

// `root` is a whole v0 practice (apiversion modelslim_v0). Errors name the v0 file, line and key.
YAML::Node translate_v0_practice(const ConfigNode& root);

// The v1 YAML text of a translated practice.
std::string emit_v1_yaml(const YAML::Node& practice);
// What `modelslim quant --print_v1` prints: a v0 practice translated, a v1 practice as it is.
std::string practice_v1_text(const ConfigNode& root);

}  // namespace modelslim::core
