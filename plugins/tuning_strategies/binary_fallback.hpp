// binary_fallback: outlier suppression stays fixed in the template; only the list at `rollback_path` (e.g.
// spec.process.1.exclude) changes. Evaluate with an empty list; if that fails, binary-search the shortest
// prefix of the rollback candidates (the user's list, or decoder blocks by sensitivity) that passes, and
// fail with Error(kSpec) when even the longest does not.
//
//   strategy:
//     type: binary_fallback
//     rollback_path: spec.process.1.exclude
//     rollback_candidates: ["*model.layers.2.mlp.down_proj*"]   # optional; empty → sensitivity analysis
//     analysis_dataset: kjv_calib.jsonl                          # optional; default template.spec.dataset
//     template: {apiversion: modelslim_v1, metadata: {...}, spec: {...}}
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "modelslim/config_node.hpp"
#include "modelslim/registrar.hpp"
#include "modelslim/strategy.hpp"

namespace modelslim::tuning {

struct BinaryFallbackSpec {
  YAML::Node template_practice;  // a full modelslim_v1 PracticeConfig
  std::string rollback_path;
  std::vector<std::string> rollback_candidates;
  std::string analysis_dataset;
};

BinaryFallbackSpec parse_binary_fallback(const ConfigNode& config, const HostServices& host);

class BinaryFallback final : public Strategy {
 public:
  explicit BinaryFallback(BinaryFallbackSpec spec);
  std::optional<Candidate> run(TuningSession& session) override;

 private:
  Candidate build(const std::vector<std::string>& rollback);

  BinaryFallbackSpec spec_;
  std::size_t counter_ = 0;
};

}  // namespace modelslim::tuning
