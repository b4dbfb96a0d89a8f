#include "stop_signals.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <system_error>

namespace modelslim::core::serve {
namespace {

int g_pipe[2] = {-1, -1};
struct sigaction g_previous_int {
}, g_previous_term{};

extern "C" void on_stop_signal(int signal) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(signal);
  [[maybe_unused]] const ssize_t written = ::write(g_pipe[1], &byte, 1);
  errno = saved;
}

}  // namespace

StopSignals::StopSignals(std::function<void()> on_stop) {
  if (::pipe2(g_pipe, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
  watcher_ = std::thread([on_stop = std::move(on_stop)] {
    unsigned char byte = 0;
    ssize_t got = 0;
    do {
      got = ::read(g_pipe[0], &byte, 1);
    } while (got < 0 && errno == EINTR);
    if (byte != 0) on_stop();  // 0: released without a signal
  });
}

void StopSignals::release() {
  const unsigned char byte = 0;
  [[maybe_unused]] const ssize_t written = ::write(g_pipe[1], &byte, 1);
}

StopSignals::~StopSignals() {
  release();
  watcher_.join();
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
}

}  // namespace modelslim::core::serve
