#include "openai_response.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>

namespace modelslim::core::serve {
namespace {

std::string random_hex() {
  static std::atomic<std::uint64_t> counter{0};
  static const std::uint64_t salt = std::random_device{}();
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(salt),
                static_cast<unsigned long long>(counter.fetch_add(1)));
  return text;
}

// Python's len(): offsets count code points, as OpenAI's and vLLM's text_offset do.
std::int64_t code_points(const std::string& text) {
  std::int64_t count = 0;
  for (const char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

nlohmann::json top_map(const TokenLogprob& token) {
  nlohmann::json top = nlohmann::json::object();
  for (const auto& [text, logprob] : token.top) top[text] = logprob;
  return top;
}

// Completions' logprobs: parallel lists over the choice's tokens (the prompt's too with echo).
nlohmann::json completion_logprobs(const Generation& generation, bool echo, const std::string& prompt_text) {
  nlohmann::json tokens = nlohmann::json::array(), logprobs = nlohmann::json::array(),
                 tops = nlohmann::json::array(), offsets = nlohmann::json::array();
  std::int64_t offset = echo ? 0 : code_points(prompt_text);
  const auto add = [&](const TokenLogprob& token) {
    tokens.push_back(token.text);
    logprobs.push_back(token.logprob ? nlohmann::json(*token.logprob) : nlohmann::json(nullptr));
    tops.push_back(token.logprob ? top_map(token) : nlohmann::json(nullptr));
    offsets.push_back(offset);
    offset += code_points(token.text);
  };
  if (echo) {
    for (const auto& token : generation.prompt_logprobs) add(token);
  }
  for (const auto& token : generation.output_logprobs) add(token);
  return {{"tokens", tokens}, {"token_logprobs", logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

nlohmann::json utf8_bytes(const std::string& text) {
  nlohmann::json bytes = nlohmann::json::array();
  for (const char c : text) bytes.push_back(static_cast<unsigned char>(c));
  return bytes;
}

nlohmann::json chat_logprobs(const Generation& generation) {
  nlohmann::json content = nlohmann::json::array();
  for (const auto& token : generation.output_logprobs) {
    nlohmann::json top = nlohmann::json::array();
    for (const auto& [text, logprob] : token.top) {
      top.push_back({{"token", text}, {"logprob", logprob}, {"bytes", utf8_bytes(text)}});
    }
    content.push_back({{"token", token.text},
                       {"logprob", token.logprob.value_or(0.0)},
                       {"bytes", utf8_bytes(token.text)},
                       {"top_logprobs", top}});
  }
  return {{"content", content}};
}

nlohmann::json head_json(const ResponseHead& head, const char* object) {
  return {{"id", head.id}, {"object", object}, {"created", head.created}, {"model", head.model}};
}

}  // namespace

ResponseHead make_response_head(bool chat, const std::string& model) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {std::string(chat ? "chatcmpl-" : "cmpl-") + random_hex(),
          std::chrono::duration_cast<std::chrono::seconds>(now).count(), model};
}

std::string finish_reason_name(FinishReason reason) {
  return reason == FinishReason::kStop ? "stop" : "length";
}

nlohmann::json usage_json(const GenerationRequest& request, const std::vector<Generation>& generations) {
  std::int64_t prompt = 0, completion = 0;
  for (const auto& prompt_input : request.prompts)
    prompt += static_cast<std::int64_t>(prompt_input.ids.size());
  for (const auto& generation : generations)
    completion += static_cast<std::int64_t>(generation.output_ids.size());
  return {
      {"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

nlohmann::json completion_json(const ResponseHead& head, const GenerationRequest& request,
                               const std::vector<Generation>& generations) {
  nlohmann::json body = head_json(head, "text_completion");
  nlohmann::json choices = nlohmann::json::array();
  for (std::size_t i = 0; i < generations.size(); ++i) {
    const auto& generation = generations[i];
    const std::string& prompt_text = request.prompts[i].text;
    const bool echo = request.params.echo;
    choices.push_back(
        {{"index", i},
         {"text", echo ? prompt_text + generation.text : generation.text},
         {"logprobs",
          request.params.logprobs ? completion_logprobs(generation, echo, prompt_text) : nlohmann::json()},
         {"finish_reason", finish_reason_name(generation.finish)}});
  }
  body["choices"] = choices;
  body["usage"] = usage_json(request, generations);
  return body;
}

nlohmann::json chat_json(const ResponseHead& head, const GenerationRequest& request,
                         const std::vector<Generation>& generations) {
  nlohmann::json body = head_json(head, "chat.completion");
  const auto& generation = generations.at(0);
  body["choices"] = nlohmann::json::array(
      {{{"index", 0},
        {"message", {{"role", "assistant"}, {"content", generation.text}}},
        {"logprobs", request.chat_top_logprobs >= 0 ? chat_logprobs(generation) : nlohmann::json()},
        {"finish_reason", finish_reason_name(generation.finish)}}});
  body["usage"] = usage_json(request, generations);
  return body;
}

nlohmann::json completion_chunk(const ResponseHead& head, std::size_t index, const std::string& text,
                                const std::optional<FinishReason>& finish) {
  nlohmann::json body = head_json(head, "text_completion");
  body["choices"] = nlohmann::json::array(
      {{{"index", index},
        {"text", text},
        {"logprobs", nullptr},
        {"finish_reason", finish ? nlohmann::json(finish_reason_name(*finish)) : nlohmann::json()}}});
  return body;
}

nlohmann::json chat_chunk(const ResponseHead& head, const std::string& text,
                          const std::optional<FinishReason>& finish, bool role_only) {
  nlohmann::json body = head_json(head, "chat.completion.chunk");
  nlohmann::json delta = nlohmann::json::object();
  if (role_only) delta = {{"role", "assistant"}, {"content", ""}};
  if (!text.empty()) delta["content"] = text;
  body["choices"] = nlohmann::json::array(
      {{{"index", 0},
        {"delta", delta},
        {"logprobs", nullptr},
        {"finish_reason", finish ? nlohmann::json(finish_reason_name(*finish)) : nlohmann::json()}}});
  return body;
}

nlohmann::json usage_chunk(const ResponseHead& head, bool chat, const nlohmann::json& usage) {
  nlohmann::json body = head_json(head, chat ? "chat.completion.chunk" : "text_completion");
  body["choices"] = nlohmann::json::array();
  body["usage"] = usage;
  return body;
}

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace modelslim::core::serve
