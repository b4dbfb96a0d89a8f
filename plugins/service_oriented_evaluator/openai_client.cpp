#include "openai_client.hpp"

#include <httplib.h>

#include <cmath>

namespace modelslim::service {
namespace {

void set_timeouts(httplib::Client& client, double seconds) {
  const auto whole = static_cast<time_t>(seconds);
  const auto micros = static_cast<time_t>((seconds - static_cast<double>(whole)) * 1e6);
  client.set_connection_timeout(whole, micros);
  client.set_read_timeout(whole, micros);
  client.set_write_timeout(whole, micros);
}

std::string first_choice_text(const nlohmann::json& answer, bool chat) {
  if (!answer.contains("choices") || !answer["choices"].is_array() || answer["choices"].empty())
    throw RequestError(200, "the answer has no choices: " + answer.dump().substr(0, 300));
  const nlohmann::json& choice = answer["choices"][0];
  const nlohmann::json* text = chat ? (choice.contains("message") ? &choice["message"] : nullptr) : &choice;
  const char* key = chat ? "content" : "text";
  if (text == nullptr || !text->contains(key))
    throw RequestError(200, std::string("the choice has no ") + key);
  return (*text)[key].is_string() ? (*text)[key].get<std::string>() : "";
}

nlohmann::json body_of(const Server& server, const GenerateOptions& options) {
  nlohmann::json body = {{"model", server.served_model_name},
                         {"max_tokens", options.max_tokens},
                         {"temperature", options.temperature}};
  if (!options.stop.empty()) body["stop"] = options.stop;
  return body;
}

}  // namespace

std::size_t char_count(const std::string& utf8) {
  std::size_t count = 0;
  for (const char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

OpenAiClient::OpenAiClient(Server server, double timeout_seconds, int retry)
    : server_(std::move(server)), timeout_seconds_(timeout_seconds), retry_(retry) {}

int OpenAiClient::get_status(const std::string& path) const {
  httplib::Client client(server_.host, server_.port);
  set_timeouts(client, timeout_seconds_);
  const auto result = client.Get(path.c_str());
  return result ? result->status : 0;
}

nlohmann::json OpenAiClient::post_once(const std::string& path, const std::string& body) const {
  httplib::Client client(server_.host, server_.port);
  set_timeouts(client, timeout_seconds_);
  const auto result = client.Post(path.c_str(), body, "application/json");
  const std::string where = "POST http://" + server_.host + ":" + std::to_string(server_.port) + path;
  if (!result) throw RequestError(0, where + ": " + httplib::to_string(result.error()));
  if (result->status != 200)
    throw RequestError(result->status, where + ": HTTP " + std::to_string(result->status) + " " +
                                           result->body.substr(0, 300));
  nlohmann::json answer = nlohmann::json::parse(result->body, nullptr, false);
  if (answer.is_discarded() || !answer.is_object())
    throw RequestError(200, where + ": the answer is not a JSON object: " + result->body.substr(0, 300));
  return answer;
}

nlohmann::json OpenAiClient::post(const std::string& path, const nlohmann::json& body) const {
  const std::string text = body.dump();
  for (int attempt = 0;; ++attempt) {
    try {
      return post_once(path, text);
    } catch (const RequestError& error) {
      if (!error.retryable() || attempt >= retry_) throw;
    }
  }
}

std::string OpenAiClient::complete(const std::string& prompt, const GenerateOptions& options) const {
  nlohmann::json body = body_of(server_, options);
  body["prompt"] = prompt;
  return first_choice_text(post("/v1/completions", body), false);
}

std::string OpenAiClient::chat(const std::string& message, const GenerateOptions& options) const {
  nlohmann::json body = body_of(server_, options);
  body["messages"] = nlohmann::json::array({{{"role", "user"}, {"content", message}}});
  return first_choice_text(post("/v1/chat/completions", body), true);
}

std::vector<TokenLogprob> OpenAiClient::echo_logprobs(const std::string& text) const {
  // One generated token (not every engine accepts max_tokens 0); it lies past the text and is dropped.
  const nlohmann::json body = {{"model", server_.served_model_name},
                               {"prompt", text},
                               {"max_tokens", 1},
                               {"temperature", 0.0},
                               {"echo", true},
                               {"logprobs", 1}};
  const nlohmann::json answer = post("/v1/completions", body);
  const nlohmann::json* logprobs = nullptr;
  if (answer.contains("choices") && answer["choices"].is_array() && !answer["choices"].empty())
    logprobs = &answer["choices"][0]["logprobs"];
  if (logprobs == nullptr || !logprobs->is_object() || !(*logprobs)["token_logprobs"].is_array() ||
      !(*logprobs)["text_offset"].is_array())
    throw RequestError(200, "the answer has no logprobs.token_logprobs and text_offset (echo + logprobs)");
  const auto& values = (*logprobs)["token_logprobs"];
  const auto& offsets = (*logprobs)["text_offset"];
  if (values.size() != offsets.size())
    throw RequestError(200, "token_logprobs and text_offset differ in length");
  const std::size_t length = char_count(text);
  std::vector<TokenLogprob> tokens;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto offset = offsets[i].get<std::size_t>();
    if (offset >= length) break;  // the generated token
    TokenLogprob token{offset, std::nullopt};
    if (values[i].is_number()) token.logprob = values[i].get<double>();
    tokens.push_back(token);
  }
  return tokens;
}

}  // namespace modelslim::service
