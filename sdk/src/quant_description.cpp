#include "modelslim/quant_description.hpp"

#include <array>

#include "modelslim/error.hpp"
#include "modelslim/json_file.hpp"

namespace modelslim {
namespace {

// The ascendv1 saver's own top-level fields; every other key is a tensor.
constexpr std::array<const char*, 6> kSaverFields = {"version",    "model_quant_type", "metadata",
                                                     "group_size", "optional",         "is_rot_used"};

bool is_saver_field(const std::string& key) {
  for (const char* field : kSaverFields) {
    if (key == field) return true;
  }
  return false;
}

}  // namespace

QuantDescription parse_quant_description(const nlohmann::json& description, const std::string& file) {
  if (!description.is_object()) {
    throw Error(
        ErrorCode::kInvalidModel,
        file + ": expected a JSON object {tensor name: type}, found a JSON " + description.type_name(),
        "quantize the model again with the ascendv1 saver");
  }
  QuantDescription types;
  for (const auto& [key, value] : description.items()) {
    if (is_saver_field(key)) continue;
    if (!value.is_string()) {
      throw Error(ErrorCode::kInvalidModel,
                  file + ": entry '" + key + "' must be a type string such as \"W8A8\" or \"FLOAT\", found " +
                      value.dump(),
                  "quantize the model again with the ascendv1 saver");
    }
    types.emplace(key, value.get<std::string>());
  }
  return types;
}

QuantDescription read_quant_description(const std::filesystem::path& file) {
  return parse_quant_description(read_json_file(file), file.string());
}

}  // namespace modelslim
