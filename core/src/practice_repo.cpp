#include "modelslim/core/practice_repo.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include "modelslim/config_node.hpp"
#include "modelslim/core/practice_config.hpp"
#include "modelslim/error.hpp"

namespace modelslim::core {

QuantTypeLabel parse_quant_type(const std::string& quant_type) {
  static const std::regex pattern(R"(w(\d+)a(\d+)(c8|f4|f8)?(s?))", std::regex::icase);
  std::smatch match;
  if (!std::regex_match(quant_type, match, pattern)) {
    throw Error(ErrorCode::kSchemaValidate,
                "--quant_type '" + quant_type + "': expected w<bits>a<bits> such as w8a8 or w8a16",
                "pass --quant_type w8a8, or --config_path with a practice YAML");
  }
  return {std::stoi(match[1]), std::stoi(match[2]), !match[4].str().empty()};
}

std::string pedigree_of(const std::string& model_type) {
  std::string pedigree;
  for (const char c : model_type) {
    if (!std::isalpha(static_cast<unsigned char>(c))) break;
    pedigree += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return pedigree;
}

std::filesystem::path find_best_practice(const std::vector<std::filesystem::path>& repos,
                                         const std::string& model_type, const std::string& quant_type) {
  const QuantTypeLabel wanted = parse_quant_type(quant_type);
  struct Choice {
    double score;
    std::string config_id;
    std::filesystem::path file;
  };
  std::vector<Choice> choices;
  std::string searched;
  // The model's pedigree first; "default" holds practices for any Llama-like model.
  for (const std::string& pedigree : {pedigree_of(model_type), std::string("default")}) {
    for (const auto& repo : repos) {
      const std::filesystem::path dir = repo / pedigree;
      searched += (searched.empty() ? "" : ", ") + dir.string();
      std::error_code error;
      if (!std::filesystem::is_directory(dir, error)) continue;
      for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() != ".yaml" && entry.path().extension() != ".yml") continue;
        const PracticeConfig practice = parse_practice_config(parse_yaml_file(entry.path().string()));
        const PracticeMetadata& meta = practice.metadata;
        if (!meta.has_label || meta.label.w_bit != wanted.w_bit || meta.label.a_bit != wanted.a_bit ||
            meta.label.is_sparse != wanted.sparse) {
          continue;
        }
        const auto& verified = meta.verified_model_types;
        const bool model_ok =
            verified.empty() || std::any_of(verified.begin(), verified.end(), [&](const auto& t) {
              return pedigree_of(t) == pedigree_of(model_type) || t == model_type;
            });
        if (model_ok) choices.push_back({meta.score, meta.config_id, entry.path()});
      }
    }
    if (!choices.empty()) break;
  }
  if (choices.empty()) {
    throw Error(
        ErrorCode::kSchemaValidate,
        "--quant_type " + quant_type + ": no practice for model type '" + model_type + "' in " + searched,
        "pass --config_path with a practice YAML, or add one to --practice_repo");
  }
  std::sort(choices.begin(), choices.end(), [](const Choice& a, const Choice& b) {
    return a.score != b.score ? a.score > b.score : a.config_id < b.config_id;
  });
  return choices.front().file;
}

}  // namespace modelslim::core
