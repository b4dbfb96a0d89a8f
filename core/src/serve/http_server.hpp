// httplib's server with our connection handling (connection.hpp) and a bounded thread pool: the accept loop
// waits while every thread is busy and `max_pending` accepted connections wait for one, so a flood of
// connections queues in the kernel's backlog instead of in memory.
#pragma once

#include <atomic>
#include <cstddef>

#include <httplib.h>

#include "connection.hpp"

namespace modelslim::core::serve {

class HttpServer : public httplib::Server {
 public:
  HttpServer(const ConnectionLimits& limits, std::size_t threads, std::size_t max_pending);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting and wakes every connection waiting to read; safe from any thread, repeatable.
  void shut_down();
  bool shutting_down() const { return shutting_down_; }

 private:
  bool process_and_close_socket(int socket) override;

  const ConnectionLimits limits_;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> shutting_down_{false};
};

}  // namespace modelslim::core::serve
