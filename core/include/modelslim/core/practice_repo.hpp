// Best-practice lookup for `quant --quant_type`: <repo>/<pedigree>/*.yaml sorted by (-score, config_id),
// label matching the whole quant type, verified_model_types containing the model type when non-empty.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace modelslim::core {

// The reference's quant type: w<bits>a<bits>[c8|f4|f8][s]. c8: int8 KV cache; f4/f8: FA (attention)
// quantized to 4/8 bits; s: sparse weights.
struct QuantTypeLabel {
  int w_bit = 0;
  int a_bit = 0;
  bool kv_cache = false;
  int fa_bit = 0;  // 0: no FA quantization
  bool sparse = false;
};
// "w8a8" → {8, 8}; "w8a8c8" KV cache; "w8a8f8" FA 8 bit; "w4a8s" sparse; throws Error(kSchemaValidate)
// naming --quant_type otherwise.
QuantTypeLabel parse_quant_type(const std::string& quant_type);
// The quant type text of a label, e.g. "w8a8c8s".
std::string quant_type_text(const QuantTypeLabel& label);

// Pedigree of a model type: its leading letters lower-cased ("Qwen3-8B" → "qwen").
std::string pedigree_of(const std::string& model_type);

// Returns the chosen practice file; throws Error(kSchemaValidate) listing what was searched and the
// practices found there (with their quant types) when none matches.
std::filesystem::path find_best_practice(const std::vector<std::filesystem::path>& repos,
                                         const std::string& model_type, const std::string& quant_type);

}  // namespace modelslim::core
