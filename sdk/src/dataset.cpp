#include "modelslim/dataset.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"

namespace modelslim {
namespace {

[[noreturn]] void dataset_error(const std::filesystem::path& file, const std::string& what) {
  throw Error(ErrorCode::kInvalidDataset, file.string() + ": " + what,
              "a dataset is a .json array of strings or a .jsonl file with one sample per line "
              "({\"inputs_pretokenized\": ...} or plain text)");
}

std::vector<std::string> read_json_array(const std::filesystem::path& file, std::ifstream& in) {
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& error) {
    dataset_error(file, std::string("not valid JSON: ") + error.what());
  }
  if (!value.is_array()) dataset_error(file, "expected a JSON array of strings");
  std::vector<std::string> samples;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string()) dataset_error(file, "element " + std::to_string(i) + " is not a string");
    samples.push_back(value[i].get<std::string>());
  }
  return samples;
}

// JSONL: a line that is a JSON object with "inputs_pretokenized" contributes that string; any other line
// (plain text, or JSON without the field) is taken as raw text, as the reference does.
std::vector<std::string> read_jsonl(const std::filesystem::path& file, std::ifstream& in) {
  std::vector<std::string> samples;
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const nlohmann::json value = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_object() && value.contains("inputs_pretokenized")) {
      if (!value["inputs_pretokenized"].is_string()) {
        dataset_error(file, "line " + std::to_string(line_number) + ": inputs_pretokenized is not a string");
      }
      samples.push_back(value["inputs_pretokenized"].get<std::string>());
    } else {
      samples.push_back(line);
    }
  }
  return samples;
}

}  // namespace

std::vector<std::string> read_text_dataset(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file)) dataset_error(file, "dataset file not found");
  std::ifstream in(file, std::ios::binary);
  if (!in) dataset_error(file, "cannot be read");
  std::vector<std::string> samples =
      file.extension() == ".json" ? read_json_array(file, in) : read_jsonl(file, in);
  if (samples.empty()) dataset_error(file, "contains no samples");
  return samples;
}

std::filesystem::path resolve_dataset(const std::string& name_or_path,
                                      const std::vector<std::filesystem::path>& dataset_dirs) {
  const std::filesystem::path direct(name_or_path);
  if (std::filesystem::exists(direct)) return direct;
  std::string searched = direct.string();
  if (!direct.is_absolute()) {
    for (const auto& dir : dataset_dirs) {
      const std::filesystem::path candidate = dir / name_or_path;
      if (std::filesystem::exists(candidate)) return candidate;
      searched += ", " + candidate.string();
    }
  }
  throw Error(ErrorCode::kInvalidDataset,
              "dataset '" + name_or_path + "' not found (looked for " + searched + ")",
              "give spec.dataset as an existing path or the name of a file in a dataset directory");
}

}  // namespace modelslim
