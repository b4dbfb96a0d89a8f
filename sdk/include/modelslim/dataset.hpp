// Calibration/evaluation text datasets in the reference's formats.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

// `.json`: a JSON array of strings. Otherwise JSONL: each non-empty line's "inputs_pretokenized" when the
// line is a JSON object that has it, else the raw line. Throws Error(kInvalidDataset) naming file and line.
MODELSLIM_SDK_API std::vector<std::string> read_text_dataset(const std::filesystem::path& file);

// A path that exists is used as is; otherwise the first `<dir>/<name>` that exists. Throws kInvalidDataset
// listing the places searched.
MODELSLIM_SDK_API std::filesystem::path resolve_dataset(
    const std::string& name_or_path, const std::vector<std::filesystem::path>& dataset_dirs);

}  // namespace modelslim
