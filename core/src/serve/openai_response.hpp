// Response bodies of the OpenAI completions and chat completions APIs, whole and as stream chunks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "generation_request.hpp"
#include "modelslim/core/text_generator.hpp"

namespace modelslim::core::serve {

// Fields every response and chunk of one request shares.
struct ResponseHead {
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  std::int64_t created = 0;
  std::string model;
};
ResponseHead make_response_head(bool chat, const std::string& model);

// "stop" or "length"; a cancelled generation is never answered.
std::string finish_reason_name(FinishReason reason);
nlohmann::json usage_json(const GenerationRequest& request, const std::vector<Generation>& generations);

// One choice per prompt, in order.
nlohmann::json completion_json(const ResponseHead& head, const GenerationRequest& request,
                               const std::vector<Generation>& generations);
nlohmann::json chat_json(const ResponseHead& head, const GenerationRequest& request,
                         const std::vector<Generation>& generations);

// Stream chunks. `text` empty and `finish` set: the closing chunk of a choice. Chat: `role_only` is the
// first chunk (delta {"role": "assistant", "content": ""}).
nlohmann::json completion_chunk(const ResponseHead& head, std::size_t index, const std::string& text,
                                const std::optional<FinishReason>& finish);
nlohmann::json chat_chunk(const ResponseHead& head, const std::string& text,
                          const std::optional<FinishReason>& finish, bool role_only = false);
// The last chunk when stream_options.include_usage is set: no choices, the usage.
nlohmann::json usage_chunk(const ResponseHead& head, bool chat, const nlohmann::json& usage);

// Serialized for the wire. Token texts may be partial UTF-8 (a byte-level token alone): invalid bytes become
// U+FFFD instead of failing the response.
std::string dump(const nlohmann::json& value);

}  // namespace modelslim::core::serve
