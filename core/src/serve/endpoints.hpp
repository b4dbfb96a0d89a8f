// The generation endpoints: a validated request waits for its turn in the queue, then generates, answered
// whole or as server-sent events.
#pragma once

#include <atomic>
#include <string>

#include <httplib.h>

#include "generation_queue.hpp"
#include "generation_request.hpp"

namespace modelslim::core {
class TextGenerator;
}

namespace modelslim::core::serve {

struct ServeContext {
  TextGenerator* generator = nullptr;
  ModelLimits limits;
  ChatTemplateInput chat_template;
  GenerationQueue* queue = nullptr;
  const std::atomic<bool>* stopping = nullptr;  // server shutdown: cancel generations
};

// POST /v1/completions (chat = false) or /v1/chat/completions with the request body already read. Throws
// ApiError for anything the client should see as an error status.
void handle_generation(const ServeContext& context, bool chat, const std::string& body,
                       httplib::Response& response);

}  // namespace modelslim::core::serve
