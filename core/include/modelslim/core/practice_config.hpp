// PracticeConfig (apiversion modelslim_v1): metadata + spec, validated field by field with the YAML location.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "modelslim/config_node.hpp"

namespace modelslim::core {

struct PracticeLabel {
  int w_bit = 0;
  int a_bit = 0;
  bool is_sparse = false;
  bool kv_cache = false;
  int fa_bit = 0;  // attention (FA) quantization bits; 0: none
};

struct PracticeMetadata {
  std::string config_id = "Unknown";
  double score = 100.0;
  PracticeLabel label;
  bool has_label = false;
  std::vector<std::string> verified_model_types;
};

struct PracticeSpec {
  std::string runner = "auto";
  std::vector<ConfigNode> prior;    // stages {process, dataset}
  std::vector<ConfigNode> process;  // processor configs (validated by their plugins)
  std::vector<ConfigNode> save;     // saver configs
  std::string dataset;              // empty: the project's default calibration set
  // Calibration samples are cut to this many tokens (and always to config.json max_position_embeddings).
  std::optional<std::size_t> max_calib_tokens;
};

struct PracticeConfig {
  ConfigNode root;
  PracticeMetadata metadata;
  PracticeSpec spec;
};

PracticeConfig parse_practice_config(const ConfigNode& root);
PracticeMetadata parse_metadata(const ConfigNode& metadata);

}  // namespace modelslim::core
