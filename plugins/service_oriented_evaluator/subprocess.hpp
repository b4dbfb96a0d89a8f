// Runs a program to completion (its own process group, output appended to a log file), killing the group
// when it outlives its timeout.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace modelslim::service {

struct RunResult {
  bool timed_out = false;
  int exit_code = -1;  // -1: killed by a signal or not started
};

RunResult run_logged(const std::vector<std::string>& argv, const std::filesystem::path& log,
                     double timeout_seconds);

// The first executable `name` in PATH (or `name` itself when it holds a '/').
std::optional<std::filesystem::path> find_program(const std::string& name);

}  // namespace modelslim::service
