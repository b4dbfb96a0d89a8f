// A validated /v1/completions or /v1/chat/completions request: tokenized prompts (one choice each) and the
// sampling settings. Every check happens here, before the request waits for the generator, so a bad
// request costs no generation and gets a 400 naming the field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelslim/core/text_generator.hpp"

namespace modelslim {
class Tokenizer;
}

namespace modelslim::core {
class ChatTemplate;
}

namespace modelslim::core::serve {

// What request validation needs to know about the served model.
struct ModelLimits {
  const Tokenizer* tokenizer = nullptr;
  std::int64_t context_length = 0;
  std::string served_model_name;
};

struct PromptInput {
  std::vector<std::int64_t> ids;
  std::string text;  // as sent (token-id prompts: decoded), for echo
};

struct GenerationRequest {
  bool chat = false;
  std::vector<PromptInput> prompts;
  SamplingParams params;  // max_tokens already checked against the context for every prompt
  bool stream = false;
  bool include_usage = false;           // stream_options.include_usage
  std::int64_t chat_top_logprobs = -1;  // chat: -1 = no logprobs, else top_logprobs (0..20)
};

// Completions: prompt (string, list of strings, token ids, list of token-id lists), max_tokens (default 16),
// echo, logprobs (0..20), and the shared sampling fields.
GenerationRequest parse_completion_request(const nlohmann::json& body, const ModelLimits& model);

// Chat: messages rendered with the model's chat template (nullptr: 400 "model has no chat_template"),
// add_generation_prompt (default true), chat_template_kwargs, max_tokens / max_completion_tokens (default:
// the rest of the context), logprobs (bool) + top_logprobs.
struct ChatTemplateInput {
  const ChatTemplate* chat_template = nullptr;
  std::string bos_token;
  std::string eos_token;
};
GenerationRequest parse_chat_request(const nlohmann::json& body, const ModelLimits& model,
                                     const ChatTemplateInput& chat_template);

// Shared by both (exposed for tests): temperature, top_p, top_k, seed, stop, n/best_of/penalties (only their
// defaults), stream, stream_options, model.
void parse_common_fields(const nlohmann::json& body, const ModelLimits& model, GenerationRequest& request);
// 400 when any prompt + max_tokens exceeds the context.
void check_context(const GenerationRequest& request, const ModelLimits& model);

}  // namespace modelslim::core::serve
