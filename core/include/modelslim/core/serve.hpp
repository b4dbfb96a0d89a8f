// `modelslim serve`: an OpenAI-compatible HTTP server over one TextGenerator (GET /health, GET /v1/models,
// POST /v1/completions, POST /v1/chat/completions). One generation at a time through a bounded FIFO queue;
// connection threads, pending connections, request bodies and the queue are all bounded (docs/serve.md).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace modelslim::core {

class TextGenerator;

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                // 0: any free port (the chosen one is logged and returned by bind())
  std::string served_model_name;  // the `model` of requests and /v1/models
  std::size_t max_queue = 32;     // requests that may wait while one generates; more get 503
  std::size_t max_body_bytes = 8u << 20;           // larger bodies get 413 without being read
  std::chrono::milliseconds read_timeout{15000};   // whole request (head + body); slower clients get 408
  std::chrono::milliseconds write_timeout{15000};  // each write to a client
  std::chrono::milliseconds keep_alive_timeout{5000};
};

class OpenAiServer {
 public:
  // The generator must outlive the server. Throws modelslim::Error when the model's chat_template does not
  // parse (chat completions need it; a model without one is served with chat answering 400).
  OpenAiServer(TextGenerator& generator, const ServeOptions& options);
  ~OpenAiServer();
  OpenAiServer(const OpenAiServer&) = delete;
  OpenAiServer& operator=(const OpenAiServer&) = delete;

  // Binds host:port; returns the port. Throws modelslim::Error (kIo) naming the address when it cannot.
  int bind();
  // Serves until stop(); returns once every connection thread has finished.
  void run();
  // Stops accepting, cancels the running generation, fails waiting requests with 503 and wakes idle
  // connections. Thread-safe (not async-signal-safe: call it from a watcher thread).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelslim::core
