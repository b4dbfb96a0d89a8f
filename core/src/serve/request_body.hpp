// Routing checks made before a request body is read, and reading a body with a size limit. httplib 0.11
// would read an oversized body to its end (Content-Length) or keep all of it in memory (chunked); here an
// oversized body is refused unread and the connection closed after the answer.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <httplib.h>

#include "api_error.hpp"

namespace modelslim::core::serve {

// 404 for an unknown path, 405 for a method the path does not take, 400 for a body on GET, 413 for a
// declared Content-Length above max_body_bytes; nullopt when the request may proceed.
std::optional<ApiError> check_route(const httplib::Request& request, std::size_t max_body_bytes);

// Answering without reading the body: the connection ends after this response (lingering close).
void close_unread_body(const httplib::Request& request, httplib::Response& response);

// The body, at most max_body_bytes (also after decompression); ApiError 413 / 408 / 400 otherwise, with the
// connection closed after the answer.
std::string read_request_body(const httplib::Request& request, const httplib::ContentReader& reader,
                              std::size_t max_body_bytes);

}  // namespace modelslim::core::serve
