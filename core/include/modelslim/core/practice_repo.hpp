// Best-practice lookup for `quant --quant_type`: <repo>/<pedigree>/*.yaml sorted by (-score, config_id),
// label matching the quant type, verified_model_types containing the model type when non-empty.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace modelslim::core {

struct QuantTypeLabel {
  int w_bit = 0;
  int a_bit = 0;
  bool sparse = false;
};
// "w8a8" → {8, 8}; "w4a8s" sparse; throws Error(kSchemaValidate) naming --quant_type otherwise.
QuantTypeLabel parse_quant_type(const std::string& quant_type);

// Pedigree of a model type: its leading letters lower-cased ("Qwen3-8B" → "qwen").
std::string pedigree_of(const std::string& model_type);

// Returns the chosen practice file; throws Error(kSchemaValidate) listing what was searched.
std::filesystem::path find_best_practice(const std::vector<std::filesystem::path>& repos,
                                         const std::string& model_type, const std::string& quant_type);

}  // namespace modelslim::core
