// `--device cpu:0,1`: the host runs one process per rank on this machine (torchrun-style) and supervises
// them, so a rank that dies stops the others at once instead of leaving them waiting on a collective.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "modelslim/core/distributed.hpp"
#include "modelslim/core/paths.hpp"
#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

// A port the kernel says is free now (bind to 0); the TCPStore of rank 0 listens on it.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw Error(ErrorCode::kIo, "dp_layer_wise: cannot find a free loopback port for the ranks");
  }
  const std::uint16_t port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

std::optional<RankInfo> rank_from_environment() {
  const char* rank = std::getenv("RANK");
  if (rank == nullptr || *rank == '\0') return std::nullopt;
  const auto number = [](const char* name, const char* fallback) -> std::size_t {
    const char* value = std::getenv(name);
    const std::string text = value != nullptr && *value != '\0' ? value : fallback;
    try {
      std::size_t used = 0;
      const unsigned long parsed = std::stoul(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
      return parsed;
    } catch (const std::exception&) {
      throw Error(ErrorCode::kSchemaValidate, std::string(name) + "='" + text + "': expected a number");
    }
  };
  RankInfo info;
  info.rank = number("RANK", "0");
  info.world_size = number("WORLD_SIZE", "");
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0')
    info.master_addr = addr;
  const std::size_t port = number("MASTER_PORT", "29500");
  if (port == 0 || port > 65535) throw Error(ErrorCode::kSchemaValidate, "MASTER_PORT: expected 1..65535");
  info.master_port = static_cast<std::uint16_t>(port);
  if (info.world_size == 0 || info.rank >= info.world_size) {
    throw Error(ErrorCode::kSchemaValidate, "RANK=" + std::to_string(info.rank) +
                                                " WORLD_SIZE=" + std::to_string(info.world_size) +
                                                ": RANK must be below WORLD_SIZE");
  }
  return info;
}

int run_local_ranks(std::size_t world_size, const std::vector<std::string>& args,
                    const std::filesystem::path& save_path) {
  const std::string executable = (executable_dir() / "modelslim").string();
  const std::uint16_t port = free_port();
  std::map<pid_t, std::size_t> ranks;
  for (std::size_t rank = 0; rank < world_size; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(ErrorCode::kIo, "dp_layer_wise: cannot start rank " + std::to_string(rank));
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world_size).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(executable.c_str()));
      for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(executable.c_str(), argv.data());
      std::_Exit(127);
    }
    ranks[pid] = rank;
  }
  spdlog::info("dp_layer_wise: {} ranks on loopback port {}", world_size, port);

  int result = 0;
  std::map<pid_t, std::size_t> running = ranks;
  std::optional<std::chrono::steady_clock::time_point> kill_at;  // set once a rank has failed
  while (!running.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, kill_at ? WNOHANG : 0);
    if (pid < 0) break;
    if (pid == 0) {  // ranks still stopping: SIGKILL those that ignore SIGTERM (blocked in a collective)
      if (std::chrono::steady_clock::now() >= *kill_at) {
        for (const auto& entry : running) ::kill(entry.first, SIGKILL);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto found = running.find(pid);
    if (found == running.end()) continue;
    const std::size_t rank = found->second;
    running.erase(found);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    if (result == 0) {
      spdlog::error("dp_layer_wise: rank {} {}; stopping the other {} rank(s)", rank, describe_status(status),
                    running.size());
      result = 1;
      for (const auto& entry : running) ::kill(entry.first, SIGTERM);
      kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    }
  }
  // A killed rank 0 cannot remove its staging directory (StagingDir names it after the pid).
  const std::filesystem::path parent = std::filesystem::absolute(save_path).parent_path();
  for (const auto& [pid, rank] : ranks) {
    std::error_code ignored;
    std::filesystem::remove_all(
        parent / ("." + save_path.filename().string() + ".partial-" + std::to_string(pid)), ignored);
  }
  return result;
}

}  // namespace modelslim::core
