// Parsers of the parts of `evaluation.evaluation` (internal to the plugin).
#pragma once

#include "service_config.hpp"

namespace modelslim::service {

std::vector<PrecheckRule> parse_precheck(const ConfigNode& node);
Server parse_server(const ConfigNode& node);
AisbenchSettings parse_aisbench(const ConfigNode& node);
std::vector<AisbenchDataset> parse_aisbench_datasets(const ConfigNode& node);
NativeSettings parse_native(const ConfigNode& evaluation, const DatasetFinder& finder);
EngineConfig parse_engine(const ConfigNode& node);

}  // namespace modelslim::service
