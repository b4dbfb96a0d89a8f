#include "request_body.hpp"

#include <algorithm>
#include <cctype>

#include "connection.hpp"

namespace modelslim::core::serve {
namespace {

struct Route {
  const char* path;
  const char* method;
};
constexpr Route kRoutes[] = {
    {"/health", "GET"}, {"/v1/models", "GET"}, {"/v1/completions", "POST"}, {"/v1/chat/completions", "POST"}};

bool has_body(const httplib::Request& request) {
  std::string encoding = request.get_header_value("Transfer-Encoding");
  std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return encoding.find("chunked") != std::string::npos ||
         (request.has_header("Content-Length") && request.get_header_value("Content-Length") != "0");
}

void close_connection(httplib::Response& response) {
  response.set_header("Connection", "close");
  if (auto* connection = Connection::current()) connection->close_after_response();
}

}  // namespace

std::optional<ApiError> check_route(const httplib::Request& request, std::size_t max_body_bytes) {
  const auto route = std::find_if(std::begin(kRoutes), std::end(kRoutes),
                                  [&](const Route& candidate) { return request.path == candidate.path; });
  if (route == std::end(kRoutes)) return error_as_api_error(404);
  const std::string method = request.method == "HEAD" ? "GET" : request.method;
  if (method != route->method) {
    return ApiError(405,
                    "method " + request.method + " not allowed on " + request.path + "; use " + route->method,
                    std::nullopt, "method_not_allowed");
  }
  if (method == "GET" && has_body(request)) {
    return ApiError(400, "a GET request takes no body", std::nullopt, "bad_request");
  }
  if (request.has_header("Content-Length") &&
      request.get_header_value<std::uint64_t>("Content-Length") > max_body_bytes) {
    return error_as_api_error(413);
  }
  return std::nullopt;
}

void close_unread_body(const httplib::Request& request, httplib::Response& response) {
  if (has_body(request)) close_connection(response);
}

std::string read_request_body(const httplib::Request&, const httplib::ContentReader& reader,
                              std::size_t max_body_bytes) {
  std::string body;
  bool too_large = false;
  const bool complete = reader([&](const char* data, std::size_t size) {
    if (size > max_body_bytes - body.size()) {
      too_large = true;
      return false;
    }
    body.append(data, size);
    return true;
  });
  if (complete) return body;
  const auto* connection = Connection::current();
  if (auto* current = Connection::current()) current->close_after_response();
  if (too_large) throw error_as_api_error(413);
  if (connection && connection->timed_out()) throw error_as_api_error(408);
  throw ApiError(400, "the request body could not be read (truncated or malformed chunked encoding)",
                 std::nullopt, "bad_request");
}

}  // namespace modelslim::core::serve
