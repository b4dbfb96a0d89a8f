#include "attention_tensors.hpp"

#include <ATen/ATen.h>

#include <algorithm>

#include "modelslim/error.hpp"

namespace modelslim::ascendv1 {

std::string fa_layer_quant_type(const AttentionQuantSlots& slots) {
  static const char* const kLetters[kAttentionInputs] = {"Q", "K", "V"};
  // Inputs grouped by form, each group in Q, K, V order; groups in the order their first input appears.
  std::vector<std::pair<std::string, std::string>> groups;  // form, letters
  for (std::size_t i = 0; i < kAttentionInputs; ++i) {
    if (!slots.quant[i]) continue;
    const std::string form = slots.quant[i]->dynamic ? "INT8_DYNAMIC" : "INT8";
    auto found = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == form; });
    if (found == groups.end()) found = groups.insert(groups.end(), {form, ""});
    found->second += kLetters[i];
  }
  std::string type;
  for (const auto& [form, letters] : groups) {
    if (!type.empty()) type += "_";
    type += letters == "QKV" ? form : letters + "_" + form;
  }
  return type;
}

AttentionQuantOutput attention_quant_output(Block& block) {
  AttentionQuantOutput output;
  auto* source = dynamic_cast<AttentionQuantSource*>(&block);
  if (source == nullptr) return output;
  for (const AttentionQuantPoint& point : source->attention_quant_points()) {
    const std::string type = fa_layer_quant_type(*point.slots);
    if (type.empty()) continue;
    const Linear* absorbed =
        point.absorbed_linear.empty() ? nullptr : block.find_linear(point.absorbed_linear);
    if (absorbed != nullptr && absorbed->quantized()) {
      throw Error(ErrorCode::kUnsupported,
                  "ascendv1_saver: " + point.absorbed_linear +
                      " is quantized, but FA3 on MLA absorbs its float weight (the computed attention would "
                      "differ from what was calibrated)",
                  "exclude \"*kv_b_proj\" from linear_quant, as the reference's DeepSeek FA3 practices do");
    }
    output.entries.emplace_back(point.module + ".quant_type", type);
    for (std::size_t i = 0; i < kAttentionInputs; ++i) {
      const auto& quant = point.slots->quant[i];
      if (!quant || quant->dynamic) continue;
      const std::string prefix = point.module + "." + attention_input_name(static_cast<AttentionInput>(i));
      const at::Tensor scale = quant->scale.to(at::kFloat).reshape({-1, 1}).contiguous();
      output.tensors.push_back({prefix + ".scale", scale, "FAQuant"});
      output.tensors.push_back({prefix + ".offset", at::zeros_like(scale, at::kChar), "FAQuant"});
      output.static_inputs = true;
    }
  }
  return output;
}

}  // namespace modelslim::ascendv1
