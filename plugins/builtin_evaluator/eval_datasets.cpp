#include "eval_datasets.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"

namespace modelslim::eval {

std::vector<ChoiceSample> read_choice_dataset(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(ErrorCode::kInvalidDataset, file.string() + ": dataset file not found");
  std::vector<ChoiceSample> samples;
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = file.string() + ":" + std::to_string(number) + ": ";
    const nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
    if (!value.is_object()) throw Error(ErrorCode::kInvalidDataset, where + "not a JSON object");
    if (!value.contains("inputs_pretokenized") || !value["inputs_pretokenized"].is_string()) {
      throw Error(ErrorCode::kInvalidDataset, where + "missing string field 'inputs_pretokenized'");
    }
    if (!value.contains("choices_pretokenized") || !value["choices_pretokenized"].is_array() ||
        value["choices_pretokenized"].size() < 2) {
      throw Error(ErrorCode::kInvalidDataset,
                  where + "'choices_pretokenized' must be a list of at least 2 strings");
    }
    if (!value.contains("label") || !value["label"].is_number_integer()) {
      throw Error(ErrorCode::kInvalidDataset, where + "missing integer field 'label'");
    }
    ChoiceSample sample;
    sample.context = value["inputs_pretokenized"].get<std::string>();
    for (const auto& choice : value["choices_pretokenized"]) {
      if (!choice.is_string())
        throw Error(ErrorCode::kInvalidDataset, where + "every choice must be a string");
      sample.choices.push_back(choice.get<std::string>());
    }
    sample.label = value["label"].get<std::int64_t>();
    if (sample.label < 0 || sample.label >= static_cast<std::int64_t>(sample.choices.size())) {
      throw Error(ErrorCode::kInvalidDataset, where + "label " + std::to_string(sample.label) +
                                                  " is not an index into " +
                                                  std::to_string(sample.choices.size()) + " choices");
    }
    samples.push_back(std::move(sample));
  }
  if (samples.empty()) throw Error(ErrorCode::kInvalidDataset, file.string() + ": contains no samples");
  return samples;
}

}  // namespace modelslim::eval
