#include "engine_process.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine_command.hpp"
#include "modelslim/error.hpp"
#include "openai_client.hpp"

namespace modelslim::service {
namespace {

using Clock = std::chrono::steady_clock;

std::string status_text(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// In the child, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(const std::vector<char*>& argv, int log_fd, pid_t parent) {
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // an engine never outlives the evaluator that started it
  if (::getppid() != parent) ::_exit(126);
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
  ::dup2(log_fd, STDOUT_FILENO);
  ::dup2(log_fd, STDERR_FILENO);
  ::execvp(argv[0], argv.data());
  const char* reason = std::strerror(errno);
  const char prefix[] = "modelslim: cannot start the engine: ";
  (void)!::write(STDERR_FILENO, prefix, sizeof prefix - 1);
  (void)!::write(STDERR_FILENO, reason, std::strlen(reason));
  (void)!::write(STDERR_FILENO, "\n", 1);
  ::_exit(127);
}

}  // namespace

std::string file_tail(const std::filesystem::path& file, std::size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > bytes ? "..." + all.substr(all.size() - bytes) : all;
}

// A server accepting connections on host:port. Not a bind test: the sockets a stopped engine leaves in
// TIME_WAIT block a bind without SO_REUSEADDR on the listener's side, yet any engine can listen there.
void require_free_port(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || found == nullptr)
    throw Error(ErrorCode::kIo, "inference_engine.host '" + host + "' does not resolve to an address",
                "use localhost or an IP address of this machine");
  bool listening = false;
  for (const addrinfo* a = found; a != nullptr && !listening; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const timeval limit{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);  // bounds connect()
    listening = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    ::close(fd);
  }
  ::freeaddrinfo(found);
  if (listening) {
    throw Error(
        ErrorCode::kIo,
        "inference_engine.port " + std::to_string(port) + " on " + host +
            " is in use: another server already accepts connections there, so the engine could not serve",
        "stop the other server (e.g. a previous engine: `ss -ltnp | grep " + std::to_string(port) +
            "`) or set inference_engine.port and evaluation.evaluation.port to a free port");
  }
}

EngineProcess::EngineProcess(const EngineConfig& engine, const std::vector<std::string>& argv,
                             const std::filesystem::path& log_file)
    : engine_(engine), log_file_(log_file) {
  require_free_port(engine.host, engine.port);
  spawn(argv);
  try {
    wait_until_ready();
  } catch (...) {
    stop();
    throw;
  }
}

EngineProcess::~EngineProcess() {
  stop();
}

void EngineProcess::spawn(const std::vector<std::string>& argv) {
  std::filesystem::create_directories(log_file_.parent_path());
  {
    std::ofstream header(log_file_, std::ios::app);
    header << "[modelslim] engine command: " << shell_line(argv) << "\n";
    for (const auto& [name, value] : engine_.env_vars)
      header << "[modelslim] env " << name << "=" << value << "\n";
  }
  const int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw Error(ErrorCode::kIo,
                "cannot open the engine log " + log_file_.string() + ": " + std::strerror(errno));
  std::vector<std::string> words = argv;
  std::vector<char*> pointers;
  for (auto& word : words) pointers.push_back(word.data());
  pointers.push_back(nullptr);
  // The child's environment is built before fork: nothing that allocates is safe between fork and exec.
  std::vector<std::string> environment;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(engine_.env_vars.begin(), engine_.env_vars.end(),
                                      [&](const auto& var) { return var.first == name; });
    if (!replaced) environment.push_back(entry);
  }
  for (const auto& [name, value] : engine_.env_vars) environment.push_back(name + "=" + value);
  std::vector<char*> env;
  for (auto& entry : environment) env.push_back(entry.data());
  env.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw Error(ErrorCode::kIo, std::string("cannot start the engine: fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    environ = env.data();  // execvp searches this environment's PATH
    exec_child(pointers, log_fd, parent);
  }
  ::close(log_fd);
  ::setpgid(pid, pid);
  pid_ = pid;
}

void EngineProcess::check_running() {
  if (pid_ < 0 || reaped_) return;
  if (::waitpid(pid_, &status_, WNOHANG) != pid_) return;
  reaped_ = true;
  fail("the inference engine exited before it was stopped (" + status_text(status_) + ")",
       "read its log (" + log_file_.string() + "); the engine must stay up while the benchmark runs");
}

void EngineProcess::wait_until_ready() {
  const auto deadline = Clock::now() + std::chrono::duration<double>(engine_.startup_timeout);
  const OpenAiClient probe(Server{engine_.host, engine_.port, engine_.served_model_name}, 3.0);
  auto pause = std::chrono::milliseconds(100);
  while (true) {
    check_running();
    if (probe.get_status(engine_.health_check_endpoint) == 200) return;
    check_running();  // a 200 from a process that just died would be a stranger's server
    if (Clock::now() >= deadline) {
      fail("the inference engine was not ready within startup_timeout (" +
               std::to_string(static_cast<int>(engine_.startup_timeout)) + " s): GET " +
               engine_.health_check_endpoint + " on " + engine_.host + ":" + std::to_string(engine_.port) +
               " never answered 200",
           "raise inference_engine.startup_timeout (large models need minutes to load) or check the log (" +
               log_file_.string() + ")");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

void EngineProcess::fail(const std::string& what, const std::string& tip) {
  throw Error(ErrorCode::kIo,
              what + "\ncommand log " + log_file_.string() + " ends with:\n" + file_tail(log_file_, 2000),
              tip);
}

void EngineProcess::stop() {
  if (pid_ < 0) return;
  if (!reaped_) {
    ::kill(-pid_, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::duration<double>(engine_.stop_timeout);
    while (::waitpid(pid_, &status_, WNOHANG) != pid_) {
      if (Clock::now() >= deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    reaped_ = true;
  }
  ::kill(-pid_, SIGKILL);  // whatever the engine left running in its group (workers, tokenizer processes)
  pid_ = -1;
}

}  // namespace modelslim::service
