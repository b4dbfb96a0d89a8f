// POST /v1/chat/completions request fields; the prompt is the model's chat template rendered over the
// messages.
#include "api_error.hpp"
#include "generation_request.hpp"
#include "json_fields.hpp"
#include "modelslim/core/chat_template.hpp"
#include "modelslim/error.hpp"
#include "modelslim/tokenizer.hpp"

namespace modelslim::core::serve {
namespace {

constexpr std::int64_t kMaxLogprobs = 20;

// Content as a string: a string, or OpenAI's list of parts whose text parts are joined.
std::string message_content(const nlohmann::json& content) {
  if (content.is_null()) return "";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) invalid_field("messages", "content as a string or a list of text parts", content);
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      invalid_field("messages", "content parts of the form {\"type\": \"text\", \"text\": ...}", part);
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

nlohmann::json parse_messages(const nlohmann::json& body) {
  const auto found = body.find("messages");
  if (found == body.end() || !found->is_array() || found->empty()) {
    throw ApiError(400, "`messages` must be a non-empty list of {\"role\", \"content\"} objects", "messages");
  }
  nlohmann::json messages = nlohmann::json::array();
  for (const auto& message : *found) {
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string()) {
      invalid_field("messages", "objects with a string `role`", message);
    }
    nlohmann::json normalized = message;  // other keys (name, tool_calls, ...) go to the template as sent
    normalized["content"] = message_content(message.value("content", nlohmann::json()));
    messages.push_back(std::move(normalized));
  }
  return messages;
}

std::string render(const nlohmann::json& body, const ChatTemplateInput& input) {
  if (!input.chat_template) {
    throw ApiError(400,
                   "model has no chat_template (tokenizer_config.json); use POST /v1/completions with a "
                   "prompt instead",
                   "messages", "no_chat_template");
  }
  nlohmann::json variables = {
      {"messages", parse_messages(body)},
      {"add_generation_prompt", optional_bool(body, "add_generation_prompt").value_or(true)},
      {"bos_token", input.bos_token},
      {"eos_token", input.eos_token}};
  if (const auto kwargs = body.find("chat_template_kwargs"); kwargs != body.end() && !kwargs->is_null()) {
    if (!kwargs->is_object()) invalid_field("chat_template_kwargs", "an object", *kwargs);
    for (const auto& [key, value] : kwargs->items()) variables[key] = value;
  }
  try {
    return input.chat_template->render(variables);
  } catch (const Error& error) {
    // Template errors here come from the messages (a template's raise_exception, e.g. roles that do not
    // alternate): the client's to fix.
    throw ApiError(400, std::string("chat_template: ") + error.what(), "messages");
  }
}

void parse_chat_logprobs(const nlohmann::json& body, GenerationRequest& request) {
  const auto top = optional_int(body, "top_logprobs");
  if (!optional_bool(body, "logprobs").value_or(false)) {
    if (top) throw ApiError(400, "`top_logprobs` needs `logprobs: true`", "top_logprobs");
    return;
  }
  if (request.stream) {
    throw ApiError(400, "`logprobs` is not supported with `stream` by modelslim serve", "stream");
  }
  if (top && (*top < 0 || *top > kMaxLogprobs))
    invalid_field("top_logprobs", "an integer in [0, 20]", body["top_logprobs"]);
  request.chat_top_logprobs = top.value_or(0);
  request.params.logprobs = request.chat_top_logprobs;
}

}  // namespace

GenerationRequest parse_chat_request(const nlohmann::json& body, const ModelLimits& model,
                                     const ChatTemplateInput& chat_template) {
  GenerationRequest request;
  request.chat = true;
  parse_common_fields(body, model, request);
  parse_chat_logprobs(body, request);
  PromptInput prompt;
  prompt.text = render(body, chat_template);
  // The template writes the special tokens (BOS) itself.
  prompt.ids = model.tokenizer->encode(prompt.text, /*add_special_tokens=*/false);
  if (prompt.ids.empty()) throw ApiError(400, "the rendered chat prompt is empty", "messages");
  auto max_tokens = optional_int(body, "max_completion_tokens");
  if (!max_tokens) max_tokens = optional_int(body, "max_tokens");
  const auto rest = model.context_length - static_cast<std::int64_t>(prompt.ids.size());
  request.params.max_tokens = max_tokens.value_or(rest > 0 ? rest : 0);
  if (request.params.max_tokens < 0) invalid_field("max_tokens", "a non-negative integer", *max_tokens);
  request.prompts.push_back(std::move(prompt));
  check_context(request, model);
  return request;
}

}  // namespace modelslim::core::serve
