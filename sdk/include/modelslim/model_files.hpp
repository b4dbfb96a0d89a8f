// Files of the source checkpoint that travel with the quantized weights.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "modelslim/export.hpp"

namespace modelslim {

// Copies *.json, *.py, *.txt, *.jinja and tokenizer.model (not weight indexes) from `model_dir` to
// `output_dir`, and writes config.json from `config` exactly as given (the adapter's view of it, see
// ModelAdapter::hf_config, with the saver's own quantization_config or none).
MODELSLIM_SDK_API void copy_model_files(const std::filesystem::path& model_dir,
                                        const std::filesystem::path& output_dir,
                                        const nlohmann::json& config);
// write_file_atomic (atomic_file.hpp): a reader never sees a half-written file, every write is checked.
MODELSLIM_SDK_API void write_text_atomic(const std::filesystem::path& file, const std::string& text);

}  // namespace modelslim
