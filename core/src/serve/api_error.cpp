#include "api_error.hpp"

namespace modelslim::core::serve {

ApiError::ApiError(int status, const std::string& message, std::optional<std::string> param,
                   std::optional<std::string> code)
    : std::runtime_error(message), status_(status), param_(std::move(param)), code_(std::move(code)) {}

nlohmann::json ApiError::to_json() const {
  nlohmann::json error = {{"message", what()}, {"type", error_type_for_status(status_)}};
  error["param"] = param_ ? nlohmann::json(*param_) : nlohmann::json(nullptr);
  error["code"] = code_ ? nlohmann::json(*code_) : nlohmann::json(nullptr);
  return {{"error", error}};
}

std::string error_type_for_status(int status) {
  return status >= 500 ? "server_error" : "invalid_request_error";
}

ApiError error_as_api_error(int status) {
  switch (status) {
    case 400:
      return ApiError(400, "malformed HTTP request", std::nullopt, "bad_request");
    case 404:
      return ApiError(404,
                      "no such endpoint; see GET /v1/models, POST /v1/completions, "
                      "POST /v1/chat/completions, GET /health",
                      std::nullopt, "not_found");
    case 405:
      return ApiError(405, "method not allowed on this endpoint", std::nullopt, "method_not_allowed");
    case 408:
      return ApiError(408, "the request was not received in time (--read_timeout)", std::nullopt,
                      "request_timeout");
    case 413:
      return ApiError(413, "request body too large (--max_body_mb)", std::nullopt, "payload_too_large");
    case 414:
      return ApiError(414, "request URI too long", std::nullopt, "uri_too_long");
    default:
      return ApiError(status, "HTTP error " + std::to_string(status));
  }
}

}  // namespace modelslim::core::serve
