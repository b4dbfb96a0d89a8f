#include "modelslim/core/practice_repo.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include "modelslim/config_node.hpp"
#include "modelslim/core/practice_config.hpp"
#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

QuantTypeLabel label_of(const PracticeLabel& label) {
  return {label.w_bit, label.a_bit, label.kv_cache, label.fa_bit, label.is_sparse};
}

bool same(const QuantTypeLabel& a, const QuantTypeLabel& b) {
  return a.w_bit == b.w_bit && a.a_bit == b.a_bit && a.kv_cache == b.kv_cache && a.fa_bit == b.fa_bit &&
         a.sparse == b.sparse;
}

}  // namespace

QuantTypeLabel parse_quant_type(const std::string& quant_type) {
  static const std::regex pattern(R"(w(\d{1,2})a(\d{1,2})(c8|f4|f8)?(s?))", std::regex::icase);
  std::smatch match;
  if (!std::regex_match(quant_type, match, pattern)) {
    throw Error(ErrorCode::kSchemaValidate,
                "--quant_type '" + quant_type +
                    "': expected w<bits>a<bits>[c8|f4|f8][s] such as w8a8, w8a16, w8a8c8 (int8 KV cache), "
                    "w8a8f8 (FA quantized) or w8a8s (sparse)",
                "pass --quant_type w8a8, or --config_path with a practice YAML");
  }
  QuantTypeLabel label;
  label.w_bit = std::stoi(match[1]);
  label.a_bit = std::stoi(match[2]);
  std::string extra = match[3].str();
  std::transform(extra.begin(), extra.end(), extra.begin(), [](unsigned char c) { return std::tolower(c); });
  label.kv_cache = extra == "c8";
  label.fa_bit = extra == "f4" ? 4 : extra == "f8" ? 8 : 0;
  label.sparse = !match[4].str().empty();
  return label;
}

std::string quant_type_text(const QuantTypeLabel& label) {
  std::string text = "w" + std::to_string(label.w_bit) + "a" + std::to_string(label.a_bit);
  if (label.kv_cache) text += "c8";
  if (label.fa_bit != 0) text += "f" + std::to_string(label.fa_bit);
  if (label.sparse) text += "s";
  return text;
}

std::string pedigree_of(const std::string& model_type) {
  std::string pedigree;
  for (const char c : model_type) {
    if (!std::isalpha(static_cast<unsigned char>(c))) break;
    pedigree += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return pedigree;
}

namespace {

// A modelslim_v0 practice is only translated (and refused, naming the key) once chosen: a repository may
// hold v0 practices modelslim cannot run (sparse) beside those it can.
PracticeMetadata practice_metadata(const ConfigNode& root) {
  const bool v0 = root.is_map() && root.has("apiversion") && root["apiversion"].as_string() == "modelslim_v0";
  return v0 ? parse_metadata(root["metadata"]) : parse_practice_config(root).metadata;
}

}  // namespace

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
  std::string seen;  // what the searched directories hold, for the error
  // The model's pedigree first; "default" holds practices for any Llama-like model.
  for (const std::string& pedigree : {pedigree_of(model_type), std::string("default")}) {
    for (const auto& repo : repos) {
      const std::filesystem::path dir = repo / pedigree;
      searched += (searched.empty() ? "" : ", ") + dir.string();
      std::error_code error;
      if (!std::filesystem::is_directory(dir, error)) continue;
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        if (entry.path().extension() == ".yaml" || entry.path().extension() == ".yml")
          files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) {
        const PracticeMetadata meta = practice_metadata(parse_yaml_file(file.string()));
        const auto& verified = meta.verified_model_types;
        const bool model_ok =
            verified.empty() || std::any_of(verified.begin(), verified.end(), [&](const auto& t) {
              return pedigree_of(t) == pedigree_of(model_type) || t == model_type;
            });
        if (!model_ok) continue;
        const std::string type = meta.has_label ? quant_type_text(label_of(meta.label)) : "no label";
        seen += (seen.empty() ? "" : ", ") + file.filename().string() + " (" + type + ")";
        if (meta.has_label && same(label_of(meta.label), wanted))
          choices.push_back({meta.score, meta.config_id, file});
      }
    }
    if (!choices.empty()) break;
  }
  if (choices.empty()) {
    throw Error(ErrorCode::kSchemaValidate,
                "--quant_type " + quant_type + " (" + quant_type_text(wanted) +
                    "): no practice with that whole quant type for model type '" + model_type + "' in " +
                    searched + "; practices there for this model: " + (seen.empty() ? "none" : seen),
                "pass one of the quant types listed, --config_path with a practice YAML, or add a practice "
                "with this label to --practice_repo");
  }
  std::sort(choices.begin(), choices.end(), [](const Choice& a, const Choice& b) {
    return a.score != b.score ? a.score > b.score : a.config_id < b.config_id;
  });
  return choices.front().file;
}

}  // namespace modelslim::core
