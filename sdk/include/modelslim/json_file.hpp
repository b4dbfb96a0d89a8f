// Reading JSON files (config.json, tokenizer.json, ...) with errors that name the file.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

namespace modelslim {

// Throws Error(kInvalidModel) naming the file when it is missing or not valid JSON.
nlohmann::json read_json_file(const std::filesystem::path& file);
// Writes pretty JSON through write_file_atomic (atomic_file.hpp).
void write_json_file_atomic(const std::filesystem::path& file, const nlohmann::json& value);

}  // namespace modelslim
