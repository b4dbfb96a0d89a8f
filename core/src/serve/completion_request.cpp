// POST /v1/completions request fields.
#include "api_error.hpp"
#include "generation_request.hpp"
#include "json_fields.hpp"
#include "modelslim/tokenizer.hpp"

namespace modelslim::core::serve {
namespace {

constexpr std::size_t kMaxPrompts = 256;
constexpr std::int64_t kMaxCompletionLogprobs = 20;
constexpr std::int64_t kDefaultMaxTokens = 16;  // OpenAI's default for completions

bool is_token_id_list(const nlohmann::json& value) {
  if (!value.is_array() || value.empty()) return false;
  for (const auto& item : value) {
    if (!item.is_number_integer()) return false;
  }
  return true;
}

PromptInput token_prompt(const nlohmann::json& ids, const ModelLimits& model) {
  PromptInput prompt;
  const std::int64_t vocab = model.tokenizer->vocab_size();
  for (const auto& item : ids) {
    const bool in_range = item.is_number_unsigned()
                              ? item.get<std::uint64_t>() < static_cast<std::uint64_t>(vocab)
                              : item.get<std::int64_t>() >= 0 && item.get<std::int64_t>() < vocab;
    if (!in_range) {
      invalid_field("prompt", "token ids in [0, " + std::to_string(vocab) + ")", item);
    }
    prompt.ids.push_back(item.get<std::int64_t>());
  }
  prompt.text = model.tokenizer->decode(prompt.ids);
  return prompt;
}

PromptInput text_prompt(const std::string& text, const ModelLimits& model) {
  PromptInput prompt{model.tokenizer->encode(text), text};
  if (prompt.ids.empty()) invalid_field("prompt", "text that encodes to at least one token", text);
  return prompt;
}

// A string, a list of strings, a list of token ids, or a list of token-id lists: one choice per prompt.
std::vector<PromptInput> parse_prompts(const nlohmann::json& body, const ModelLimits& model) {
  const auto found = body.find("prompt");
  if (found == body.end() || found->is_null()) throw ApiError(400, "`prompt` is required", "prompt");
  const nlohmann::json& value = *found;
  if (value.is_string()) return {text_prompt(value.get<std::string>(), model)};
  if (is_token_id_list(value)) return {token_prompt(value, model)};
  if (!value.is_array() || value.empty() || value.size() > kMaxPrompts) {
    invalid_field("prompt", "a string, a list of 1 to 256 strings, or token ids", value);
  }
  std::vector<PromptInput> prompts;
  for (const auto& item : value) {
    if (item.is_string()) {
      prompts.push_back(text_prompt(item.get<std::string>(), model));
    } else if (is_token_id_list(item)) {
      prompts.push_back(token_prompt(item, model));
    } else {
      invalid_field("prompt", "a list of strings or of non-empty token-id lists", item);
    }
  }
  return prompts;
}

}  // namespace

GenerationRequest parse_completion_request(const nlohmann::json& body, const ModelLimits& model) {
  GenerationRequest request;
  parse_common_fields(body, model, request);
  if (const auto suffix = optional_string(body, "suffix"); suffix && !suffix->empty()) {
    throw ApiError(400, "`suffix` is not supported by modelslim serve", "suffix");
  }
  request.params.max_tokens = optional_int(body, "max_tokens").value_or(kDefaultMaxTokens);
  if (request.params.max_tokens < 0)
    invalid_field("max_tokens", "a non-negative integer", body["max_tokens"]);
  request.params.echo = optional_bool(body, "echo").value_or(false);
  if (const auto logprobs = optional_int(body, "logprobs")) {
    if (*logprobs < 0 || *logprobs > kMaxCompletionLogprobs)
      invalid_field("logprobs", "an integer in [0, 20]", body["logprobs"]);
    request.params.logprobs = *logprobs;
  }
  if (request.stream && (request.params.logprobs || request.params.echo)) {
    throw ApiError(400, "`logprobs` and `echo` are not supported with `stream` by modelslim serve", "stream");
  }
  request.prompts = parse_prompts(body, model);
  check_context(request, model);
  return request;
}

}  // namespace modelslim::core::serve
