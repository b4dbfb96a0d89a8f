#include "deployed_attention.hpp"

#include <ATen/ATen.h>

#include <sstream>

#include "modelslim/attention_quant.hpp"
#include "modelslim/error.hpp"

namespace modelslim {
namespace {

bool is_letters(const std::string& token) {
  return !token.empty() && token.find_first_not_of("QKV") == std::string::npos;
}

// "INT8" / "INT8_DYNAMIC" (all of Q, K, V) or groups "<letters>_<form>": which inputs are dynamic, which
// static. `type` comes from the description of `module`.
std::array<std::optional<bool>, kAttentionInputs> parse_layer_type(const std::string& module,
                                                                   const std::string& type) {
  std::vector<std::string> tokens;
  std::stringstream stream(type);
  for (std::string token; std::getline(stream, token, '_');) tokens.push_back(token);
  if (tokens.empty() || !is_letters(tokens.front())) tokens.insert(tokens.begin(), "QKV");
  std::array<std::optional<bool>, kAttentionInputs> dynamic;
  for (std::size_t i = 0; i < tokens.size();) {
    const std::string letters = tokens[i++];
    std::string form;
    while (i < tokens.size() && !is_letters(tokens[i])) form += (form.empty() ? "" : "_") + tokens[i++];
    if (form != "INT8" && form != "INT8_DYNAMIC") {
      throw Error(ErrorCode::kUnsupported,
                  module + ".quant_type: attention input form '" + form + "' of \"" + type +
                      "\" is not computed by modelslim",
                  "FA3 inputs are evaluated as INT8 (static per head) or INT8_DYNAMIC (per token)");
    }
    for (const char letter : letters) {
      dynamic[std::string("QKV").find(letter)] = form == "INT8_DYNAMIC";
    }
  }
  return dynamic;
}

}  // namespace

void apply_deployed_attention_quant(const QuantDescription& description, const SafetensorsCheckpoint& tensors,
                                    Block& block) {
  auto* source = dynamic_cast<AttentionQuantSource*>(&block);
  if (source == nullptr) return;
  for (const AttentionQuantPoint& point : source->attention_quant_points()) {
    const auto found = description.find(point.module + ".quant_type");
    if (found == description.end()) continue;
    const auto dynamic = parse_layer_type(point.module, found->second);
    for (std::size_t i = 0; i < kAttentionInputs; ++i) {
      auto& quant = point.slots->quant[i];
      quant.reset();
      if (!dynamic[i]) continue;
      if (*dynamic[i]) {
        quant = AttentionInputQuant{true, {}};
        continue;
      }
      const std::string name =
          point.module + "." + attention_input_name(static_cast<AttentionInput>(i)) + ".scale";
      const at::Tensor scale = tensors.load(name).to(at::kFloat).reshape({-1});
      if (scale.size(0) != point.heads[i]) {
        throw Error(ErrorCode::kInvalidModel,
                    name + ": expected " + std::to_string(point.heads[i]) + " per-head scales, found " +
                        std::to_string(scale.size(0)),
                    "quantize the model again with fa3_quant");
      }
      quant = AttentionInputQuant{false, scale};
    }
    install_attention_quant(point);
  }
}

}  // namespace modelslim
