// OpenAiServer: routes, request bodies with a size limit, and OpenAI error objects for every error status.
#include "modelslim/core/serve.hpp"

#include <atomic>
#include <cstring>
#include <optional>

#include <spdlog/spdlog.h>

#include "api_error.hpp"
#include "endpoints.hpp"
#include "http_server.hpp"
#include "modelslim/core/chat_template.hpp"
#include "modelslim/core/text_generator.hpp"
#include "modelslim/error.hpp"
#include "openai_response.hpp"
#include "request_body.hpp"

namespace modelslim::core {
namespace {

// Connection threads beyond the queue: health checks, /v1/models and 503 answers still get a thread while
// the queue is full.
constexpr std::size_t kSpareThreads = 8;

serve::ConnectionLimits connection_limits(const ServeOptions& options) {
  serve::ConnectionLimits limits;
  limits.read_timeout = options.read_timeout;
  limits.write_timeout = options.write_timeout;
  limits.keep_alive_timeout = options.keep_alive_timeout;
  return limits;
}

void send_error(httplib::Response& response, const serve::ApiError& error) {
  response.status = error.status();
  const auto* connection = serve::Connection::current();
  if (connection && connection->closing()) response.set_header("Connection", "close");
  response.set_content(serve::dump(error.to_json()), "application/json");
}

}  // namespace

struct OpenAiServer::Impl {
  Impl(TextGenerator& generator, const ServeOptions& options)
      : options(options),
        queue(options.max_queue),
        http(connection_limits(options), options.max_queue + 1 + kSpareThreads,
             options.max_queue + 1 + kSpareThreads) {
    if (const std::string source = generator.chat_template(); !source.empty()) chat_template.emplace(source);
    context.generator = &generator;
    context.limits = {&generator.tokenizer(), generator.context_length(), options.served_model_name};
    context.chat_template = {chat_template ? &*chat_template : nullptr, generator.bos_token(),
                             generator.eos_token()};
    context.queue = &queue;
    context.stopping = &stopping;
  }

  void add_routes();
  void add_error_handling();
  void generation_route(const char* path, bool chat);

  const ServeOptions options;
  std::optional<ChatTemplate> chat_template;
  serve::GenerationQueue queue;
  serve::HttpServer http;
  std::atomic<bool> stopping{false};
  serve::ServeContext context;
  int port = 0;
};

void OpenAiServer::Impl::generation_route(const char* path, bool chat) {
  http.Post(path, [this, chat](const httplib::Request& request, httplib::Response& response,
                               const httplib::ContentReader& reader) {
    try {
      const std::string body = serve::read_request_body(request, reader, options.max_body_bytes);
      serve::handle_generation(context, chat, body, response);
    } catch (const serve::ApiError& error) {
      send_error(response, error);
    } catch (const nlohmann::json::exception& error) {
      // A field's value of an unexpected JSON type that a check above did not name.
      send_error(response, serve::ApiError(400, std::string("invalid request: ") + error.what()));
    }
  });
}

void OpenAiServer::Impl::add_routes() {
  http.Get("/health", [this](const httplib::Request&, httplib::Response& response) {
    const std::size_t held = queue.size();
    const nlohmann::json health = {{"status", "ok"}, {"waiting", held > 0 ? held - 1 : 0}};
    response.set_content(serve::dump(health), "application/json");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& response) {
    const nlohmann::json model = {{"id", options.served_model_name},
                                  {"object", "model"},
                                  {"created", 0},
                                  {"owned_by", "modelslim"},
                                  {"max_model_len", context.limits.context_length}};
    response.set_content(serve::dump({{"object", "list"}, {"data", {model}}}), "application/json");
  });
  generation_route("/v1/completions", false);
  generation_route("/v1/chat/completions", true);
}

void OpenAiServer::Impl::add_error_handling() {
  // Before any body is read: unknown paths, wrong methods and oversized bodies are answered here.
  http.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (const auto error = serve::check_route(request, options.max_body_bytes)) {
      serve::close_unread_body(request, response);
      send_error(response, *error);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_expect_100_continue_handler([this](const httplib::Request& request, httplib::Response& response) {
    if (const auto error = serve::check_route(request, options.max_body_bytes)) {
      serve::close_unread_body(request, response);
      send_error(response, *error);
      return error->status();
    }
    return 100;
  });
  // Errors httplib answers itself (malformed request line or headers, timeouts): an OpenAI error object.
  const httplib::Server::HandlerWithResponse on_error = [](const httplib::Request&,
                                                           httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    // The request was not read to its end: nothing after it on this connection can be trusted.
    response.set_header("Connection", "close");
    auto* connection = serve::Connection::current();
    if (connection) connection->close_after_response();
    if (connection && connection->timed_out()) response.status = 408;
    response.set_content(serve::dump(serve::error_as_api_error(response.status).to_json()),
                         "application/json");
    return httplib::Server::HandlerResponse::Handled;
  };
  http.set_error_handler(on_error);
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& response, std::exception_ptr error) {
        std::string message = "internal error";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& caught) {
          message = caught.what();
        } catch (...) {
        }
        spdlog::error("serve: {}", message);
        send_error(response, serve::ApiError(500, message));
      });
  http.set_logger([](const httplib::Request& request, const httplib::Response& response) {
    spdlog::debug("{} {} -> {}", request.method, request.path, response.status);
  });
}

OpenAiServer::OpenAiServer(TextGenerator& generator, const ServeOptions& options)
    : impl_(std::make_unique<Impl>(generator, options)) {
  impl_->add_routes();
  impl_->add_error_handling();
}

OpenAiServer::~OpenAiServer() = default;

int OpenAiServer::bind() {
  const auto& options = impl_->options;
  const int port = options.port == 0
                       ? impl_->http.bind_to_any_port(options.host)
                       : (impl_->http.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port <= 0) {
    throw Error(
        ErrorCode::kIo,
        "cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + std::strerror(errno),
        "choose another --port (0 picks a free one) or --host");
  }
  impl_->port = port;
  return port;
}

void OpenAiServer::run() {
  if (!impl_->stopping) impl_->http.listen_after_bind();
}

void OpenAiServer::stop() {
  impl_->stopping = true;
  impl_->queue.stop();
  impl_->http.shut_down();
}

}  // namespace modelslim::core
