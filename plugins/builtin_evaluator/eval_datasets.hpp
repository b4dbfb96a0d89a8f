// Evaluation datasets: plain text (JSONL/JSON, as calibration sets) and multiple choice (JSONL lines with
// inputs_pretokenized, choices_pretokenized, label — the reference's format).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace modelslim::eval {

struct ChoiceSample {
  std::string context;
  std::vector<std::string> choices;
  std::int64_t label = 0;
};

// Throws Error(kInvalidDataset) naming file and line for missing fields, a label outside the choices, or no
// samples.
std::vector<ChoiceSample> read_choice_dataset(const std::filesystem::path& file);

}  // namespace modelslim::eval
