// standing_high: find the smallest number of sensitive decoder blocks to keep in float. Evaluate the
// template with no fallback; if it fails, binary-search the fallback level (top-k blocks by sensitivity)
// with the first outlier-suppression chain, then "stand high": try to lower the level with every chain in
// turn (starting from the one that last worked), doubling the step after a success and resetting it to 1
// after a round of failures. Candidate ids and order follow the reference (`<config_id>_<n>`, every built
// practice takes a number).
//
//   strategy:
//     type: standing_high
//     anti_outlier_strategies: [[{type: iter_smooth, alpha: 0.5}], []]
//     template: {runner: auto, process: [{type: linear_quant, qconfig: ...}], save: [...], dataset: ...}
//     metadata: {config_id: my-w8a8, label: {w_bit: 8, a_bit: 8, is_sparse: false, kv_cache: false}}
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "modelslim/config_node.hpp"
#include "modelslim/registrar.hpp"
#include "modelslim/strategy.hpp"

namespace modelslim::tuning {

struct StandingHighSpec {
  std::vector<YAML::Node> anti_outlier_strategies;  // each a list of processor configs ([] = none)
  YAML::Node template_spec;                         // {runner, process, save, dataset}
  std::string config_id = "standing_high";
  YAML::Node label;
};

// Validates everything (processors and savers through the host) and throws Error(kSchemaValidate)
// naming the field.
StandingHighSpec parse_standing_high(const ConfigNode& config, const HostServices& host);

class StandingHigh final : public Strategy {
 public:
  explicit StandingHigh(StandingHighSpec spec);
  std::optional<Candidate> run(TuningSession& session) override;

 private:
  // The practice with outlier chain `anti` and the top `level` blocks kept in float.
  Candidate build(std::size_t anti, std::size_t level);

  StandingHighSpec spec_;
  std::vector<std::string> ranked_blocks_;
  std::size_t counter_ = 0;
};

}  // namespace modelslim::tuning
