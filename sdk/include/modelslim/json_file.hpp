// Reading JSON files (config.json, tokenizer.json, ...) with errors that name the file.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

#include "modelslim/export.hpp"

namespace modelslim {

// Throws Error(kInvalidModel) naming the file when it is missing or not valid JSON.
MODELSLIM_SDK_API nlohmann::json read_json_file(const std::filesystem::path& file);
// Writes pretty JSON through write_file_atomic (atomic_file.hpp).
MODELSLIM_SDK_API void write_json_file_atomic(const std::filesystem::path& file, const nlohmann::json& value);

}  // namespace modelslim
