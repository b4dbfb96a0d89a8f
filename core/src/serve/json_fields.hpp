// Typed access to the fields of a JSON request: a field that is absent or null reads as nullopt, a field of
// the wrong type or out of range is an ApiError(400) naming it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace modelslim::core::serve {

// The request body as a JSON object; 400 when it is not JSON or not an object.
nlohmann::json parse_request_body(const std::string& body);

// Integers may be written 16 or 16.0 (as JSON clients in loosely typed languages send them), not 16.5.
std::optional<std::int64_t> optional_int(const nlohmann::json& body, const char* field);
std::optional<double> optional_number(const nlohmann::json& body, const char* field);
std::optional<bool> optional_bool(const nlohmann::json& body, const char* field);
std::optional<std::string> optional_string(const nlohmann::json& body, const char* field);

// ApiError(400) "`field` must be <what>, got <value>".
[[noreturn]] void invalid_field(const char* field, const std::string& what, const nlohmann::json& value);
// The value as JSON text, cut to a readable length for error messages.
std::string brief(const nlohmann::json& value);

}  // namespace modelslim::core::serve
