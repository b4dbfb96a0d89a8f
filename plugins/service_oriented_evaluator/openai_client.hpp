// A small client of the OpenAI-compatible HTTP API every engine serves (cpp-httplib underneath).
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "service_config.hpp"

namespace modelslim::service {

// A request that got no usable answer. status: the HTTP status, 0 when there was none (refused, timed out).
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
  int status() const { return status_; }
  bool retryable() const { return status_ == 0 || status_ >= 500; }

 private:
  int status_;
};

struct TokenLogprob {
  std::size_t offset = 0;         // characters from the start of the echoed text
  std::optional<double> logprob;  // null for the first token
};

struct GenerateOptions {
  int max_tokens = 256;
  double temperature = 0.0;
  std::vector<std::string> stop;
};

class OpenAiClient {
 public:
  OpenAiClient(Server server, double timeout_seconds, int retry = 0);

  // GET: the HTTP status, 0 when the server did not answer.
  int get_status(const std::string& path) const;
  // /v1/completions: the generated text.
  std::string complete(const std::string& prompt, const GenerateOptions& options) const;
  // /v1/chat/completions with one user message: the answer's content.
  std::string chat(const std::string& message, const GenerateOptions& options) const;
  // /v1/completions with echo and logprobs: the log-probability of every token of `text`.
  std::vector<TokenLogprob> echo_logprobs(const std::string& text) const;

  nlohmann::json post(const std::string& path, const nlohmann::json& body) const;

 private:
  nlohmann::json post_once(const std::string& path, const std::string& body) const;

  Server server_;
  double timeout_seconds_;
  int retry_;
};

// Characters (code points) of UTF-8 text: the unit of the API's text_offset.
std::size_t char_count(const std::string& utf8);

}  // namespace modelslim::service
