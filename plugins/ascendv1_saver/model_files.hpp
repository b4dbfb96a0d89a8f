// Files of the source checkpoint that travel with the quantized weights.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>
#include <string>

namespace modelslim::ascendv1 {

// Copies *.json, *.py, *.txt, *.jinja and tokenizer.model (not weight indexes) from `model_dir` to
// `output_dir`; config.json loses its quantization_config (the float checkpoint may have been quantized
// before).
// Copies the checkpoint's non-weight files; config.json is written from `config` (the adapter's, without
// quantization_config) instead of copied.
void copy_model_files(const std::filesystem::path& model_dir, const std::filesystem::path& output_dir,
                      const nlohmann::json& config);
void write_text_atomic(const std::filesystem::path& file, const std::string& text);

}  // namespace modelslim::ascendv1
