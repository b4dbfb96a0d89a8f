// Plan checks `tune` makes before any model work, so a run never spends hours to fail on a typo: the
// datasets the strategy names exist, the evaluator can read what the template saves, and rollback
// candidates name modules of the model. Each throws Error(kSchemaValidate) naming the plan field.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "modelslim/config_node.hpp"

namespace modelslim::core {

// Every `dataset` / `analysis_dataset` string under `strategy` resolves (as a path or a dataset name);
// otherwise the error lists the places searched.
void check_strategy_datasets(const ConfigNode& strategy);

// The savers whose output an evaluator type can read; empty: any (e.g. a user command).
std::vector<std::string> savers_readable_by(const std::string& evaluator_type);
// Every `save` list under `strategy` (an empty or missing one saves with ascendv1_saver, as `quant` does)
// holds a saver the evaluator reads.
void check_strategy_savers(const ConfigNode& strategy, const std::string& evaluator_type);
// The same for one candidate practice (a strategy may build its own); throws naming the candidate.
void check_practice_savers(const YAML::Node& practice, const std::string& candidate_id,
                           const std::string& evaluator_type);

// Module names of a checkpoint: every tensor name and every dotted prefix of it.
std::vector<std::string> model_module_names(const std::filesystem::path& model_path);
// A fallback or rollback name matches when it is a module name or a glob matching one, or (without '*')
// a part of module names as the strategies use it: "model.layers.1" keeps "*model.layers.1.*" in float.
bool names_some_module(const std::string& name, const std::vector<std::string>& modules);
// A strategy's `rollback_candidates` each name a module of the model.
void check_rollback_candidates(const ConfigNode& strategy, const std::vector<std::string>& modules);

}  // namespace modelslim::core
