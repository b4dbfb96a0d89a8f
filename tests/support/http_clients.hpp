// HTTP clients that are not ours (curl, node's fetch) for the serve tests, run as child processes.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include "support/test_support.hpp"

namespace modelslim::test {

struct HttpReply {
  int status = 0;    // 0: no HTTP answer (connection refused, reset, ...)
  std::string body;  // curl's own error text too, when it failed
};

// curl with `args` (URL included); the status is curl's %{http_code}. `input`: a shell command whose output
// is curl's stdin.
inline HttpReply curl(const std::string& args, const std::string& input = "") {
  static const std::string kMarker = "\n@@status=";
  const CommandResult result =
      run_command((input.empty() ? "" : input + " | ") + "curl -sS --max-time 120 -w '" + kMarker +
                  "%{http_code}' " + args);
  HttpReply reply;
  const auto marker = result.output.rfind(kMarker);
  if (marker == std::string::npos) {
    reply.body = result.output;
    return reply;
  }
  reply.body = result.output.substr(0, marker);
  reply.status = std::stoi(result.output.substr(marker + kMarker.size()));
  return reply;
}

// POST of a JSON body (written to a file, so no shell quoting is involved).
inline HttpReply curl_post_json(const std::string& url, const std::string& json, const TempDir& dir,
                                const std::string& extra_args = "") {
  static std::atomic<int> counter{0};
  const auto file = dir.path() / ("body-" + std::to_string(counter++) + ".json");
  write_text(file, json);
  return curl("-X POST -H 'Content-Type: application/json' --data-binary @" + file.string() + " " +
              extra_args + " '" + url + "'");
}

// Runs a node ES module (written to `dir`) with `args`; returns its output (stdout and stderr).
inline CommandResult run_node(const std::string& script, const TempDir& dir, const std::string& args) {
  static std::atomic<int> counter{0};
  const auto file = dir.path() / ("client-" + std::to_string(counter++) + ".mjs");
  write_text(file, script);
  return run_command("node " + file.string() + " " + args);
}

}  // namespace modelslim::test
