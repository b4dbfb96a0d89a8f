#include "connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace modelslim::core::serve {
namespace {

using Clock = std::chrono::steady_clock;

thread_local Connection* t_current = nullptr;

// A write already queued when shutdown starts gets this long to finish.
constexpr std::chrono::milliseconds kShutdownWriteGrace{300};
// How long a lingering close keeps reading (and dropping) what the client still sends.
constexpr std::chrono::milliseconds kLingerTime{1000};

void address_of(const sockaddr_storage& address, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    port = ntohs(v4.sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
    port = ntohs(v6.sin6_port);
  }
  ip = text;
}

}  // namespace

Connection::Connection(int socket, const ConnectionLimits& limits, int stop_fd)
    : socket_(socket), limits_(limits), stop_fd_(stop_fd), previous_current_(t_current) {
  t_current = this;
}

Connection::~Connection() {
  t_current = previous_current_;
  if (close_after_response_) linger();
  ::shutdown(socket_, SHUT_RDWR);
  ::close(socket_);
}

Connection* Connection::current() {
  return t_current;
}

Connection::Wait Connection::wait(short events, Clock::time_point deadline, bool stop_interrupts) const {
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Wait::kTimeout;
    pollfd fds[2] = {{socket_, events, 0}, {stop_fd_, POLLIN, 0}};
    const int ready =
        ::poll(fds, stop_interrupts ? 2 : 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Wait::kError;
    if (ready == 0) return Wait::kTimeout;
    if (stop_interrupts && (fds[1].revents & POLLIN)) return Wait::kStopped;
    return (fds[0].revents & (events | POLLHUP | POLLERR)) ? Wait::kReady : Wait::kError;
  }
}

bool Connection::wait_for_request() {
  if (buffer_begin_ < buffer_end_) return true;  // pipelined bytes already read
  return wait(POLLIN, Clock::now() + limits_.keep_alive_timeout, true) == Wait::kReady;
}

void Connection::start_request() {
  read_deadline_ = Clock::now() + limits_.read_timeout;
  timed_out_ = false;
}

bool Connection::peer_closed() const {
  pollfd fd{socket_, POLLRDHUP, 0};
  return ::poll(&fd, 1, 0) > 0 && (fd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

bool Connection::is_readable() const {
  return buffer_begin_ < buffer_end_ || wait(POLLIN, read_deadline_, true) == Wait::kReady;
}

bool Connection::is_writable() const {
  return wait(POLLOUT, Clock::now() + limits_.write_timeout, false) == Wait::kReady;
}

ssize_t Connection::read(char* data, size_t size) {
  if (buffer_begin_ == buffer_end_) {
    const Wait waited = wait(POLLIN, read_deadline_, true);
    if (waited == Wait::kTimeout) timed_out_ = true;
    if (waited != Wait::kReady) return -1;
    const ssize_t received = ::recv(socket_, buffer_.data(), buffer_.size(), 0);
    if (received <= 0) return received;
    buffer_begin_ = 0;
    buffer_end_ = static_cast<std::size_t>(received);
  }
  const std::size_t count = std::min(size, buffer_end_ - buffer_begin_);
  std::memcpy(data, buffer_.data() + buffer_begin_, count);
  buffer_begin_ += count;
  return static_cast<ssize_t>(count);
}

ssize_t Connection::write(const char* data, size_t size) {
  auto deadline = Clock::now() + limits_.write_timeout;
  Wait waited = wait(POLLOUT, deadline, true);
  if (waited == Wait::kStopped) {
    deadline = std::min(deadline, Clock::now() + kShutdownWriteGrace);
    waited = wait(POLLOUT, deadline, false);
  }
  if (waited != Wait::kReady) return -1;
  return ::send(socket_, data, size, MSG_NOSIGNAL);
}

void Connection::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(socket_, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    address_of(address, ip, port);
}

void Connection::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(socket_, reinterpret_cast<sockaddr*>(&address), &length) == 0)
    address_of(address, ip, port);
}

// The answer is sent; closing now with unread bytes would reset the connection and the client could lose
// the answer. Half-close, then drop what arrives until the client closes or kLingerTime passes.
void Connection::linger() {
  ::shutdown(socket_, SHUT_WR);
  const auto deadline = Clock::now() + kLingerTime;
  char sink[16384];
  while (wait(POLLIN, deadline, true) == Wait::kReady) {
    if (::recv(socket_, sink, sizeof sink, 0) <= 0) break;
  }
}

}  // namespace modelslim::core::serve
