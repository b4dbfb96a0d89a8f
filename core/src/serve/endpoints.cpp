#include "endpoints.hpp"

#include <memory>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>

#include "api_error.hpp"
#include "connection.hpp"
#include "json_fields.hpp"
#include "modelslim/core/text_generator.hpp"
#include "modelslim/error.hpp"
#include "openai_response.hpp"

namespace modelslim::core::serve {
namespace {

// Whether to go on generating for the client of this thread's connection.
bool still_wanted(const ServeContext& context, const Connection* connection) {
  return !*context.stopping && !(connection && connection->peer_closed());
}

ApiError shutting_down() {
  return ApiError(503, "the server is shutting down", std::nullopt, "shutting_down");
}

// The generator's own failures (not the client's): 500 with the message.
Generation generate(const ServeContext& context, const PromptInput& prompt, const SamplingParams& params,
                    const TextCallback& on_text) {
  try {
    return context.generator->generate(prompt.ids, params, on_text);
  } catch (const Error& error) {
    spdlog::error("generation failed: {}", describe(error));
    throw ApiError(500, std::string("generation failed: ") + error.what());
  }
}

std::unique_ptr<GenerationQueue::Ticket> wait_for_generator(const ServeContext& context) {
  auto ticket = context.queue->try_enter();
  if (!ticket) {
    if (*context.stopping) throw shutting_down();
    throw ApiError(503, "the server is busy: the generation queue is full (--max_queue); retry later",
                   std::nullopt, "server_overloaded");
  }
  if (!ticket->wait_turn()) throw shutting_down();
  return ticket;
}

void answer_whole(const ServeContext& context, const GenerationRequest& request,
                  httplib::Response& response) {
  const auto ticket = wait_for_generator(context);
  const Connection* connection = Connection::current();
  const TextCallback keep_going = [&](const std::string&) { return still_wanted(context, connection); };
  std::vector<Generation> generations;
  for (const auto& prompt : request.prompts) {
    generations.push_back(generate(context, prompt, request.params, keep_going));
    if (generations.back().finish == FinishReason::kCancelled) {
      if (*context.stopping) throw shutting_down();
      throw ApiError(499, "the client closed the connection");  // nobody reads this answer
    }
  }
  const auto head = make_response_head(request.chat, context.limits.served_model_name);
  const auto body =
      request.chat ? chat_json(head, request, generations) : completion_json(head, request, generations);
  response.set_content(dump(body), "application/json");
}

struct Stream {
  ServeContext context;
  const Connection* connection = nullptr;
  GenerationRequest request;
  ResponseHead head;
  std::unique_ptr<GenerationQueue::Ticket> ticket;
};

bool send_event(httplib::DataSink& sink, const std::string& data) {
  const std::string event = "data: " + data + "\n\n";
  return sink.write(event.data(), event.size());
}

nlohmann::json chunk(const Stream& stream, std::size_t index, const std::string& text,
                     const std::optional<FinishReason>& finish) {
  return stream.request.chat ? chat_chunk(stream.head, text, finish)
                             : completion_chunk(stream.head, index, text, finish);
}

// False when the client left or the server is shutting down: the connection is then closed mid-stream.
bool stream_choices(Stream& stream, httplib::DataSink& sink, std::vector<Generation>& generations) {
  const auto& prompts = stream.request.prompts;
  for (std::size_t index = 0; index < prompts.size(); ++index) {
    const TextCallback send_delta = [&](const std::string& delta) {
      if (!still_wanted(stream.context, stream.connection)) return false;
      return delta.empty() || send_event(sink, dump(chunk(stream, index, delta, std::nullopt)));
    };
    generations.push_back(generate(stream.context, prompts[index], stream.request.params, send_delta));
    const FinishReason finish = generations.back().finish;
    if (finish == FinishReason::kCancelled || !send_event(sink, dump(chunk(stream, index, "", finish))))
      return false;
  }
  return true;
}

bool write_stream(Stream& stream, httplib::DataSink& sink) {
  if (stream.request.chat && !send_event(sink, dump(chat_chunk(stream.head, "", std::nullopt, true))))
    return false;
  std::vector<Generation> generations;
  try {
    if (!stream_choices(stream, sink, generations)) return false;
  } catch (const ApiError& error) {
    // Headers (200) are gone: the error travels as an event, as vLLM sends it.
    send_event(sink, dump(error.to_json()));
  }
  stream.ticket.reset();  // the generator is free for the next request
  if (stream.request.include_usage) {
    send_event(sink,
               dump(usage_chunk(stream.head, stream.request.chat, usage_json(stream.request, generations))));
  }
  send_event(sink, "[DONE]");
  sink.done();
  return true;
}

void answer_stream(const ServeContext& context, GenerationRequest request, httplib::Response& response) {
  auto stream = std::make_shared<Stream>();
  stream->ticket = wait_for_generator(context);
  stream->context = context;
  stream->connection = Connection::current();
  stream->head = make_response_head(request.chat, context.limits.served_model_name);
  stream->request = std::move(request);
  response.set_header("Cache-Control", "no-cache");
  response.set_chunked_content_provider("text/event-stream", [stream](std::size_t, httplib::DataSink& sink) {
    return write_stream(*stream, sink);
  });
}

}  // namespace

void handle_generation(const ServeContext& context, bool chat, const std::string& body,
                       httplib::Response& response) {
  const nlohmann::json json = parse_request_body(body);
  GenerationRequest request = chat ? parse_chat_request(json, context.limits, context.chat_template)
                                   : parse_completion_request(json, context.limits);
  if (request.stream) {
    answer_stream(context, std::move(request), response);
  } else {
    answer_whole(context, request, response);
  }
}

}  // namespace modelslim::core::serve
