// quant_model_description.json, as the ascendv1 saver writes it and deployments read it (since ABI 4.1).
// Includes nothing of LibTorch, so the parser is fuzzed on its own (fuzz/quant_description_fuzz.cpp).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "modelslim/export.hpp"

namespace modelslim {

// Tensor name -> ascendv1 type ("FLOAT", "W8A8", ...); the saver's own top-level fields (version,
// model_quant_type, group_size, metadata, optional, is_rot_used) are skipped.
using QuantDescription = std::map<std::string, std::string>;

// Throw Error(kInvalidModel) naming the file and the entry when the description is not an object or a
// tensor entry is not a string.
MODELSLIM_SDK_API QuantDescription parse_quant_description(const nlohmann::json& description,
                                                           const std::string& file);
MODELSLIM_SDK_API QuantDescription read_quant_description(const std::filesystem::path& file);

// Their names before ABI 4.1, when they lived in the builtin evaluator.
namespace eval {
using modelslim::parse_quant_description;
using modelslim::QuantDescription;
using modelslim::read_quant_description;
}  // namespace eval

}  // namespace modelslim
