// OpenAI-style errors: {"error": {"message", "type", "param", "code"}} with an HTTP status. Thrown by request
// parsing and the endpoints, turned into a response in one place (routes.cpp).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace modelslim::core::serve {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::optional<std::string> param = std::nullopt,
           std::optional<std::string> code = std::nullopt);

  int status() const { return status_; }
  // The OpenAI error object.
  nlohmann::json to_json() const;

 private:
  int status_;
  std::optional<std::string> param_;
  std::optional<std::string> code_;
};

// "invalid_request_error" for 4xx, "server_error" for 5xx (as OpenAI names them).
std::string error_type_for_status(int status);
// The error for a status the HTTP layer produces itself (malformed request, no route, timeout, size).
ApiError error_as_api_error(int status);

}  // namespace modelslim::core::serve
