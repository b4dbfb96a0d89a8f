#include "json_fields.hpp"

#include <cmath>
#include <limits>

#include "api_error.hpp"

namespace modelslim::core::serve {
namespace {

const nlohmann::json* field_value(const nlohmann::json& body, const char* field) {
  const auto found = body.find(field);
  if (found == body.end() || found->is_null()) return nullptr;
  return &*found;
}

}  // namespace

nlohmann::json parse_request_body(const std::string& body) {
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& error) {
    throw ApiError(400, std::string("the request body is not valid JSON: ") + error.what(), std::nullopt,
                   "invalid_json");
  }
  if (!parsed.is_object()) {
    throw ApiError(400, "the request body must be a JSON object, got " + brief(parsed), std::nullopt,
                   "invalid_json");
  }
  return parsed;
}

std::string brief(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  constexpr std::size_t kMax = 80;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

void invalid_field(const char* field, const std::string& what, const nlohmann::json& value) {
  throw ApiError(400, std::string("`") + field + "` must be " + what + ", got " + brief(value), field);
}

std::optional<std::int64_t> optional_int(const nlohmann::json& body, const char* field) {
  const nlohmann::json* value = field_value(body, field);
  if (!value) return std::nullopt;
  if (value->is_number_integer()) {
    if (value->is_number_unsigned() &&
        value->get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      invalid_field(field, "an integer below 2^63", *value);
    }
    return value->get<std::int64_t>();
  }
  if (value->is_number_float()) {
    const double number = value->get<double>();
    // 2^63 is exactly representable; anything at or above it does not fit.
    if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 9.2e18) {
      return static_cast<std::int64_t>(number);
    }
  }
  invalid_field(field, "an integer", *value);
}

std::optional<double> optional_number(const nlohmann::json& body, const char* field) {
  const nlohmann::json* value = field_value(body, field);
  if (!value) return std::nullopt;
  if (!value->is_number()) invalid_field(field, "a number", *value);
  return value->get<double>();
}

std::optional<bool> optional_bool(const nlohmann::json& body, const char* field) {
  const nlohmann::json* value = field_value(body, field);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) invalid_field(field, "true or false", *value);
  return value->get<bool>();
}

std::optional<std::string> optional_string(const nlohmann::json& body, const char* field) {
  const nlohmann::json* value = field_value(body, field);
  if (!value) return std::nullopt;
  if (!value->is_string()) invalid_field(field, "a string", *value);
  return value->get<std::string>();
}

}  // namespace modelslim::core::serve
