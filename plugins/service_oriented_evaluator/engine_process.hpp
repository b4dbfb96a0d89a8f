// One running inference engine: started in its own process group with the configured environment, its
// output appended to a log file, health-checked until ready; stopping it stops the whole group (SIGTERM,
// then SIGKILL). Every way the engine cannot serve (its port taken, it exits, it is not ready in time) throws
// Error: a failure of the machinery, never a result of the candidate it serves.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "service_config.hpp"

namespace modelslim::service {

class EngineProcess {
 public:
  // Starts `argv` and waits until GET health_check_endpoint answers 200.
  EngineProcess(const EngineConfig& engine, const std::vector<std::string>& argv,
                const std::filesystem::path& log_file);
  ~EngineProcess();
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  // Throws Error naming the exit status and the log's end when the engine is no longer running.
  void check_running();
  void stop();
  pid_t pid() const { return pid_; }

 private:
  void spawn(const std::vector<std::string>& argv);
  void wait_until_ready();
  [[noreturn]] void fail(const std::string& what, const std::string& tip);

  EngineConfig engine_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

// Throws Error(kIo) when a server already accepts connections on host:port.
void require_free_port(const std::string& host, int port);

// The last `bytes` of a file ("" when it cannot be read).
std::string file_tail(const std::filesystem::path& file, std::size_t bytes);

}  // namespace modelslim::service
