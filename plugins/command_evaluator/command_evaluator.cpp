#include "command_evaluator.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace modelslim::eval {
namespace {

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string shell_quote(const std::string& text) {
  return "'" + replace_all(text, "'", "'\\''") + "'";
}

std::string tail_of(const std::filesystem::path& file, std::size_t bytes) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > bytes ? "..." + all.substr(all.size() - bytes) : all;
}

// Removes the scratch directory when the evaluation ends, however it ends.
struct ScratchDir {
  std::filesystem::path path;
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

CommandEvaluator::CommandEvaluator(const ConfigNode& config) {
  config.check_keys({"type", "command", "timeout"});
  if (!config.has("command")) config.fail("missing required field 'command' (a shell command template)");
  command_ = config["command"].as_string();
  timeout_seconds_ = config.get_double("timeout", 3600);
  if (timeout_seconds_ <= 0) config["timeout"].fail("must be a positive number of seconds");
}

EvaluationResult CommandEvaluator::evaluate(const EvaluationRequest& request) {
  std::random_device random;
  const ScratchDir scratch{std::filesystem::temp_directory_path() /
                           ("modelslim-eval-" + std::to_string(::getpid()) + "-" + std::to_string(random()))};
  std::filesystem::create_directories(scratch.path);
  const std::filesystem::path output_json = scratch.path / "result.json";
  const std::filesystem::path log = scratch.path / "command.log";
  std::string command = command_;
  command = replace_all(command, "{model_path}", shell_quote(request.model_dir.string()));
  command = replace_all(command, "{quant_path}",
                        shell_quote((request.quant_dir ? *request.quant_dir : request.model_dir).string()));
  command = replace_all(command, "{output_json}", shell_quote(output_json.string()));
  command = replace_all(command, "{work_dir}", shell_quote(scratch.path.string()));

  EvaluationResult result;
  const pid_t pid = ::fork();
  if (pid < 0) {
    result.ok = false;
    result.message = "command evaluator: fork failed";
    return result;
  }
  if (pid == 0) {
    ::setpgid(0, 0);  // its own process group, so a timeout can stop everything it started
    const std::string redirected = "exec > " + shell_quote(log.string()) + " 2>&1; " + command;
    ::execl("/bin/sh", "sh", "-c", redirected.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds_);
  int status = 0;
  while (true) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.ok = false;
      result.message = "command timed out after " + std::to_string(timeout_seconds_) + " s: " + command_ +
                       "\noutput: " + tail_of(log, 2000);
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    result.ok = false;
    result.message = "command failed (" +
                     (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                        : "signal " + std::to_string(WTERMSIG(status))) +
                     "): " + command_ + "\noutput: " + tail_of(log, 2000);
    return result;
  }
  std::ifstream in(output_json);
  if (!in) {
    result.ok = false;
    result.message = "command succeeded but wrote no results to {output_json}: " + command_;
    return result;
  }
  const nlohmann::json value = nlohmann::json::parse(in, nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    result.ok = false;
    result.message = "command wrote an invalid results file (expected a JSON object): " + command_;
    return result;
  }
  if (value.contains("metrics") && value["metrics"].is_array()) {
    for (const auto& m : value["metrics"]) {
      if (!m.is_object() || !m.contains("value") || !m["value"].is_number()) {
        result.ok = false;
        result.message = "results file: every metric needs a numeric 'value'";
        return result;
      }
      result.metrics.push_back({m.value("dataset", "default"), m.value("metric", "acc"),
                                m["value"].get<double>(),
                                m.value("better", "higher") == "lower" ? MetricDirection::kLowerIsBetter
                                                                       : MetricDirection::kHigherIsBetter});
    }
  } else {
    for (const auto& [dataset, number] : value.items()) {
      if (!number.is_number()) {
        result.ok = false;
        result.message = "results file: '" + dataset + "' is not a number";
        return result;
      }
      result.metrics.push_back({dataset, "acc", number.get<double>(), MetricDirection::kHigherIsBetter});
    }
  }
  if (result.metrics.empty()) {
    result.ok = false;
    result.message = "results file has no metrics: " + command_;
  }
  return result;
}

}  // namespace modelslim::eval
