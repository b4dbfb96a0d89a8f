#include "modelslim/core/output_path.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "modelslim/atomic_file.hpp"
#include "modelslim/error.hpp"
#include "modelslim/version.hpp"

namespace modelslim::core {
namespace {

namespace fs = std::filesystem;

// `inner` equals `outer` or lies below it (both normalized).
bool within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

// argv of this process, for the marker: which command made this directory.
nlohmann::json command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json args = nlohmann::json::array();
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\0', start);
    args.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return args;
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string host_name() {
  char buffer[256] = {};
  ::gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

}  // namespace

fs::path normalize_output_path(const fs::path& path, const std::string& flag) {
  if (path.empty()) throw Error(ErrorCode::kSchemaValidate, flag + " is empty", "name an output directory");
  fs::path normal = fs::absolute(path).lexically_normal();
  // "out/" has an empty last component: drop it, or the staging directory would land inside "out".
  while (!normal.has_filename() && normal.has_relative_path()) normal = normal.parent_path();
  normal = fs::weakly_canonical(normal);
  while (!normal.has_filename() && normal.has_relative_path()) normal = normal.parent_path();
  if (!normal.has_relative_path()) {
    throw Error(ErrorCode::kIo, flag + " " + path.string() + ": the root directory cannot be an output",
                "name a new directory, e.g. " + flag + " ./out");
  }
  return normal;
}

bool has_output_marker(const fs::path& dir) {
  std::error_code ignored;
  return fs::is_regular_file(dir / kOutputMarker, ignored);
}

bool replaceable_output(const fs::path& dir) {
  std::error_code error;
  if (!fs::exists(fs::symlink_status(dir, error))) return true;
  if (!fs::is_directory(dir, error)) return false;
  return fs::is_empty(dir, error) || has_output_marker(dir);
}

void write_output_marker(const fs::path& dir) {
  const nlohmann::json marker = {{"tool", "modelslim"}, {"version", kVersion}, {"command", command_line()},
                                 {"time", utc_now()},   {"pid", ::getpid()},   {"host", host_name()}};
  write_file_atomic(dir / kOutputMarker, marker.dump(2) + "\n");
}

void check_output_path(const fs::path& save_path, const std::string& flag,
                       const std::vector<std::pair<std::string, fs::path>>& inputs) {
  for (const auto& [input_flag, input] : inputs) {
    std::error_code error;
    const fs::path resolved = fs::weakly_canonical(fs::absolute(input), error).lexically_normal();
    if (error) continue;  // an unreadable input fails with its own message later
    const char* relation = nullptr;
    if (resolved == save_path) {
      relation = "is";
    } else if (within(save_path, resolved)) {
      relation = "is inside";
    } else if (within(resolved, save_path)) {
      relation = "contains";
    }
    if (relation != nullptr) {
      throw Error(ErrorCode::kIo,
                  flag + " " + save_path.string() + " " + relation + " " + input_flag + " " +
                      resolved.string() + ": the output would replace or be mixed with the input",
                  "choose a " + flag + " outside " + input_flag + ", e.g. a new directory beside it");
    }
  }
  std::error_code error;
  if (fs::exists(fs::symlink_status(save_path, error)) && !fs::is_directory(save_path, error)) {
    throw Error(ErrorCode::kIo, flag + " " + save_path.string() + " exists and is not a directory",
                "choose another " + flag);
  }
  if (!replaceable_output(save_path)) {
    throw Error(ErrorCode::kIo,
                flag + " " + save_path.string() +
                    " is a non-empty directory that modelslim did not create (no " + kOutputMarker +
                    "); its files would be replaced",
                "choose a new or empty directory, or remove this one yourself");
  }
}

}  // namespace modelslim::core
