// YAML values as the reference's Python sees them: plain scalars are typed (true, 3, 0.9, null), quoted
// ones are strings. Used to map engine `args` to flags and to write ais_bench's Python model config.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

namespace modelslim::service {

nlohmann::json json_of(const YAML::Node& node);
// A Python literal ({'k': True, 'n': None}) of a JSON value.
std::string python_literal(const nlohmann::json& value);

}  // namespace modelslim::service
