// One client connection as httplib's Stream, with the limits httplib 0.11 lacks: a deadline for a whole
// request (head and body; httplib's read timeout restarts with every byte, so a slowloris client could hold
// a thread forever), reads and waits that server shutdown interrupts, and a lingering close after an early
// answer (413) so the client reads the answer instead of a connection reset.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <string>

#include <httplib.h>

namespace modelslim::core::serve {

struct ConnectionLimits {
  std::chrono::milliseconds read_timeout{15000};       // from the first byte of a request to its last
  std::chrono::milliseconds write_timeout{15000};      // for each write
  std::chrono::milliseconds keep_alive_timeout{5000};  // idle wait for the next request
  std::size_t keep_alive_max = 100;                    // requests per connection
};

class Connection : public httplib::Stream {
 public:
  // stop_fd becomes readable when the server shuts down.
  Connection(int socket, const ConnectionLimits& limits, int stop_fd);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* data, size_t size) override;
  ssize_t write(const char* data, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return socket_; }

  // Waits (keep-alive timeout) for the next request's first byte; false on close, timeout or shutdown.
  bool wait_for_request();
  // The read deadline of the request now starting.
  void start_request();
  bool timed_out() const { return timed_out_; }
  // The client closed its side (left): a generation for it can stop.
  bool peer_closed() const;
  // After this response: no further request, and a lingering close (the request body was not read).
  void close_after_response() { close_after_response_ = true; }
  bool closing() const { return close_after_response_; }

  // The connection the calling thread is serving; nullptr outside one.
  static Connection* current();

 private:
  enum class Wait { kReady, kTimeout, kStopped, kError };
  Wait wait(short events, std::chrono::steady_clock::time_point deadline, bool stop_interrupts) const;
  void linger();

  const int socket_;
  const ConnectionLimits limits_;
  const int stop_fd_;
  std::chrono::steady_clock::time_point read_deadline_;
  bool timed_out_ = false;
  bool close_after_response_ = false;
  std::array<char, 4096> buffer_{};
  std::size_t buffer_begin_ = 0, buffer_end_ = 0;
  Connection* previous_current_;
};

}  // namespace modelslim::core::serve
