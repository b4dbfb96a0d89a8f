// SIGINT/SIGTERM for the server: the handler only writes to a pipe; a watcher thread calls `on_stop` (which
// may lock and join, unlike a signal handler). Exit status stays the server's own (0), not "killed".
#pragma once

#include <functional>
#include <thread>

namespace modelslim::core::serve {

class StopSignals {
 public:
  // Installs the handlers (restored by the destructor) and starts the watcher.
  explicit StopSignals(std::function<void()> on_stop);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Wakes the watcher without a signal (normal end), so the destructor can join it.
  void release();

 private:
  std::thread watcher_;
};

}  // namespace modelslim::core::serve
