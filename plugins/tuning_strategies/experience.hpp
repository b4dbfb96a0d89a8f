// standing_high_with_experience: builds the standing_high template and outlier-suppression chains from an
// expert table (experience.yaml, shipped in the plugin) for the model's structures, then runs standing_high.
//
//   strategy:
//     type: standing_high_with_experience
//     quant_type: w8a8                      # a key of the table: w8a8, w4a8
//     structure_configs:
//       - {type: GQA, include: ["*self_attn*"]}
//       - {type: FFN, include: ["*mlp*"], exclude: ["*layers.0.*"]}
//     metadata: {config_id: my-w8a8, label: {...}}   # optional
//     dataset: kjv_calib.jsonl                       # optional calibration set
//     save: [{type: ascendv1_saver}]                 # optional, default ascendv1_saver
//     experience: my_table.yaml                      # optional, replaces the shipped table
#pragma once

#include "modelslim/config_node.hpp"
#include "modelslim/registrar.hpp"
#include "standing_high.hpp"

namespace modelslim::tuning {

StandingHighSpec parse_standing_high_with_experience(const ConfigNode& config, const HostServices& host);

}  // namespace modelslim::tuning
