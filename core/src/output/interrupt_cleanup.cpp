#include "modelslim/core/interrupt_cleanup.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

namespace modelslim::core {
namespace {

int g_pipe[2] = {-1, -1};

std::vector<std::filesystem::path>& registered() {
  static std::vector<std::filesystem::path> paths;
  return paths;
}

extern "C" void on_signal(int signal) {
  const int saved = errno;
  const auto byte = static_cast<unsigned char>(signal);
  [[maybe_unused]] const ssize_t written = ::write(g_pipe[1], &byte, 1);
  errno = saved;
}

[[noreturn]] void watch() {
  unsigned char byte = 0;
  while (::read(g_pipe[0], &byte, 1) != 1) {
  }
  const int signal = byte;
  // Held until the process is gone: no rename starts after the cleanup.
  interrupt_cleanup_mutex().lock();
  for (const auto& path : registered()) {
    // The run goes on meanwhile and may create a file in a stage being removed: try again.
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
      if (!std::filesystem::exists(std::filesystem::symlink_status(path, ignored))) break;
    }
  }
  // Die of the signal itself, so the parent sees "killed by SIGTERM".
  std::signal(signal, SIG_DFL);
  ::kill(::getpid(), signal);
  std::_Exit(128 + signal);
}

}  // namespace

std::recursive_mutex& interrupt_cleanup_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

void install_interrupt_cleanup() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (::pipe2(g_pipe, O_CLOEXEC) != 0) return;  // no cleanup on signals, but the run itself goes on
    std::thread(watch).detach();
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (const int signal : {SIGINT, SIGTERM}) {
      struct sigaction previous {};
      // A signal the parent chose to ignore (e.g. SIGINT of a background job) stays ignored.
      if (::sigaction(signal, nullptr, &previous) == 0 && previous.sa_handler == SIG_IGN) continue;
      ::sigaction(signal, &action, nullptr);
    }
  });
}

void register_interrupt_cleanup(const std::filesystem::path& path) {
  const std::lock_guard<std::recursive_mutex> lock(interrupt_cleanup_mutex());
  registered().push_back(path);
}

void unregister_interrupt_cleanup(const std::filesystem::path& path) {
  const std::lock_guard<std::recursive_mutex> lock(interrupt_cleanup_mutex());
  auto& paths = registered();
  paths.erase(std::remove(paths.begin(), paths.end(), path), paths.end());
}

}  // namespace modelslim::core
