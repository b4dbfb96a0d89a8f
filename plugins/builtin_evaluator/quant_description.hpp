// quant_model_description.json as the builtin evaluator reads it: every tensor's ascendv1 type ("FLOAT",
// "W8A8", ...) beside the saver's own fields (version, model_quant_type, group_size, metadata, optional,
// ...).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace modelslim::eval {

// tensor name -> ascendv1 type. Throws Error(kInvalidModel) naming the file and the entry when the
// description is not an object or a tensor entry is not a string.
using QuantDescription = std::map<std::string, std::string>;

QuantDescription parse_quant_description(const nlohmann::json& description, const std::string& file);
QuantDescription read_quant_description(const std::filesystem::path& file);

}  // namespace modelslim::eval
