#include "modelslim/hf_config_fields.hpp"

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"

namespace modelslim {

HfConfigFields::HfConfigFields(const nlohmann::json& config, std::filesystem::path file)
    : config_(config), file_(std::move(file)) {
  if (!config_.is_object()) {
    throw Error(
        ErrorCode::kInvalidModel,
        file_.string() + ": expected a JSON object of fields, got " + std::string(config_.type_name()),
        "config.json of a Hugging Face checkpoint is one {...} object");
  }
}

void HfConfigFields::fail(const std::string& field, const std::string& what) const {
  throw Error(ErrorCode::kInvalidModel, file_.string() + ": field '" + field + "' " + what);
}

bool HfConfigFields::present(const char* field) const {
  return config_.contains(field) && !config_[field].is_null();
}

std::int64_t HfConfigFields::checked_int(const char* field, std::int64_t minimum) const {
  const nlohmann::json& value = config_[field];
  if (!value.is_number_integer() || value.get<std::int64_t>() < minimum) {
    fail(field, minimum == 1 ? "must be a positive integer, got " + value.dump()
                             : "must be an integer >= " + std::to_string(minimum) + ", got " + value.dump());
  }
  return value.get<std::int64_t>();
}

std::int64_t HfConfigFields::positive_int(const char* field) const {
  if (!present(field)) fail(field, "is missing");
  return checked_int(field, 1);
}

std::int64_t HfConfigFields::positive_int(const char* field, std::int64_t fallback) const {
  return present(field) ? checked_int(field, 1) : fallback;
}

std::int64_t HfConfigFields::non_negative_int(const char* field, std::int64_t fallback) const {
  return present(field) ? checked_int(field, 0) : fallback;
}

double HfConfigFields::number(const char* field, double fallback) const {
  if (!present(field)) return fallback;
  if (!config_[field].is_number()) fail(field, "must be a number, got " + config_[field].dump());
  return config_[field].get<double>();
}

bool HfConfigFields::boolean(const char* field, bool fallback) const {
  if (!present(field)) return fallback;
  if (!config_[field].is_boolean()) fail(field, "must be true or false, got " + config_[field].dump());
  return config_[field].get<bool>();
}

std::string HfConfigFields::text(const char* field, const std::string& fallback) const {
  if (!present(field)) return fallback;
  if (!config_[field].is_string()) fail(field, "must be a string, got " + config_[field].dump());
  return config_[field].get<std::string>();
}

std::vector<std::int64_t> HfConfigFields::layer_indices(const char* field) const {
  std::vector<std::int64_t> values;
  if (!present(field)) return values;
  if (!config_[field].is_array())
    fail(field, "must be a list of layer indices, got " + config_[field].dump());
  for (const auto& item : config_[field]) {
    if (!item.is_number_integer() || item.get<std::int64_t>() < 0) {
      fail(field, "must hold layer indices >= 0, got " + item.dump());
    }
    values.push_back(item.get<std::int64_t>());
  }
  return values;
}

std::string HfConfigFields::rope_scaling_type() const {
  if (!present("rope_scaling")) return "";
  const nlohmann::json& scaling = config_["rope_scaling"];
  if (!scaling.is_object()) fail("rope_scaling", "must be an object or null, got " + scaling.dump());
  for (const char* key : {"rope_type", "type"}) {
    if (!scaling.contains(key)) continue;
    if (!scaling[key].is_string()) {
      fail(std::string("rope_scaling.") + key, "must be a string, got " + scaling[key].dump());
    }
    return scaling[key].get<std::string>();
  }
  return "default";
}

}  // namespace modelslim
