// `--device cpu:0,1`: the host runs one process per rank on this machine (torchrun-style) and supervises
// them, so a rank that dies stops the others at once instead of leaving them waiting on a collective.
//
// Ranks die with their supervisor: each asks the kernel for SIGKILL when the supervisor dies
// (PR_SET_PDEATHSIG), however it dies, so a killed supervisor leaves no orphan that could go on to publish
// --save_path. SIGINT, SIGTERM and SIGHUP sent to the supervisor are forwarded to the ranks, which are then
// waited for and cleaned up.
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "modelslim/core/distributed.hpp"
#include "modelslim/core/env_names.hpp"
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

volatile std::sig_atomic_t received_signal = 0;

extern "C" void remember_signal(int signal) {
  received_signal = signal;
}

// While alive, SIGINT/SIGTERM/SIGHUP are recorded instead of killing the supervisor, so it can stop its ranks
// and clean up; signals ignored by whoever started us (e.g. SIGINT for `cmd &`) stay ignored.
class SignalCatcher {
 public:
  SignalCatcher() {
    received_signal = 0;
    for (std::size_t i = 0; i < kSignals.size(); ++i) {
      struct sigaction action {};
      action.sa_handler = remember_signal;
      ::sigemptyset(&action.sa_mask);
      ::sigaction(kSignals[i], nullptr, &previous_[i]);
      if (previous_[i].sa_handler != SIG_IGN) ::sigaction(kSignals[i], &action, nullptr);
    }
  }
  ~SignalCatcher() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &previous_[i], nullptr);
  }
  SignalCatcher(const SignalCatcher&) = delete;
  SignalCatcher& operator=(const SignalCatcher&) = delete;
  int received() const { return received_signal; }

 private:
  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> previous_{};
};

// argv and environment of one rank, built before fork: the child may only make async-signal-safe calls.
struct RankCommand {
  std::vector<std::string> strings;  // owns what argv and envp point to
  std::vector<char*> argv;
  std::vector<char*> envp;
};

RankCommand rank_command(const std::string& executable, const std::vector<std::string>& args,
                         const std::vector<std::string>& rank_variables) {
  RankCommand command;
  command.strings.push_back(executable);
  command.strings.insert(command.strings.end(), args.begin(), args.end());
  const std::size_t argc = command.strings.size();
  for (char** variable = environ; *variable != nullptr; ++variable) {
    const std::string entry = *variable;
    const bool overridden =
        std::any_of(rank_variables.begin(), rank_variables.end(), [&](const std::string& ours) {
          return entry.compare(0, ours.find('=') + 1, ours, 0, ours.find('=') + 1) == 0;
        });
    if (!overridden) command.strings.push_back(entry);
  }
  command.strings.insert(command.strings.end(), rank_variables.begin(), rank_variables.end());
  for (std::size_t i = 0; i < command.strings.size(); ++i) {
    (i < argc ? command.argv : command.envp).push_back(command.strings[i].data());
  }
  command.argv.push_back(nullptr);
  command.envp.push_back(nullptr);
  return command;
}

// In the forked child: tie its life to the supervisor's, then become the rank. Async-signal-safe calls only.
[[noreturn]] void exec_rank(const RankCommand& command, pid_t supervisor) {
  // The kernel sends SIGKILL when the supervisor's thread that forked us ends (run_local_ranks runs on the
  // CLI's main thread); execve keeps the setting. SIGKILL, not SIGTERM: it cannot be caught or delayed, so
  // an orphaned rank 0 can never reach its rename into --save_path.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != supervisor) ::_exit(1);  // the supervisor died before prctl took effect
  ::execve(command.argv[0], command.argv.data(), command.envp.data());
  ::_exit(127);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

}  // namespace

std::optional<RankInfo> rank_from_environment() {
  const char* rank = std::getenv(env::kRank);
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
  info.rank = number(env::kRank, "0");
  info.world_size = number(env::kWorldSize, "");
  if (const char* addr = std::getenv(env::kMasterAddr); addr != nullptr && *addr != '\0')
    info.master_addr = addr;
  const std::size_t port = number(env::kMasterPort, "29500");
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
  const pid_t supervisor = ::getpid();
  std::vector<RankCommand> commands;
  for (std::size_t rank = 0; rank < world_size; ++rank) {
    commands.push_back(
        rank_command(executable, args,
                     {"RANK=" + std::to_string(rank), "WORLD_SIZE=" + std::to_string(world_size),
                      "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)}));
  }
  const SignalCatcher signals;  // before the first fork, so no signal finds ranks without a supervisor
  std::map<pid_t, std::size_t> ranks;
  for (std::size_t rank = 0; rank < world_size && signals.received() == 0; ++rank) {
    const pid_t pid = ::fork();
    if (pid == 0) exec_rank(commands[rank], supervisor);
    if (pid < 0) {
      for (const auto& entry : ranks) ::kill(entry.first, SIGKILL);
      for (const auto& entry : ranks) ::waitpid(entry.first, nullptr, 0);
      throw Error(ErrorCode::kIo,
                  "dp_layer_wise: cannot start rank " + std::to_string(rank) + ": " + std::strerror(errno));
    }
    ranks[pid] = rank;
  }
  spdlog::info("dp_layer_wise: {} ranks on loopback port {}", world_size, port);

  int result = 0;
  std::map<pid_t, std::size_t> running = ranks;
  std::optional<std::chrono::steady_clock::time_point> kill_at;  // set once the ranks are told to stop
  const auto stop_ranks = [&] {
    for (const auto& entry : running) ::kill(entry.first, SIGTERM);
    kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  };
  while (!running.empty()) {
    if (signals.received() != 0 && result < 128) {
      const int caught = signals.received();
      spdlog::warn("dp_layer_wise: {}; stopping the {} rank(s)", strsignal(caught), running.size());
      result = 128 + caught;
      stop_ranks();
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);  // polled, so a signal is acted on within 50 ms
    if (pid < 0 && errno != EINTR) break;
    if (pid <= 0) {  // SIGKILL ranks that have not stopped 3 s after SIGTERM (a rank stuck in the kernel)
      if (kill_at && std::chrono::steady_clock::now() >= *kill_at) {
        for (const auto& entry : running) {
          spdlog::warn("dp_layer_wise: rank {} did not stop within 3 s of SIGTERM; killing it", entry.second);
          ::kill(entry.first, SIGKILL);
        }
        kill_at.reset();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    const auto found = running.find(pid);
    if (found == running.end()) continue;
    const std::size_t rank = found->second;
    running.erase(found);
    // Once told to stop, how each rank ended is the evidence that it cleaned up (its own SIGTERM handling).
    if (result != 0) spdlog::info("dp_layer_wise: rank {} {}", rank, describe_status(status));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    if (result == 0) {
      spdlog::error("dp_layer_wise: rank {} {}; stopping the other {} rank(s)", rank, describe_status(status),
                    running.size());
      result = 1;
      stop_ranks();
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
