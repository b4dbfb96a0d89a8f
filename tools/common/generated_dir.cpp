#include "common/generated_dir.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "modelslim/atomic_file.hpp"
#include "modelslim/error.hpp"

namespace modelslim::tools {
namespace {

namespace fs = std::filesystem;

const std::string kFlag = "--output";

fs::path absolute_output(const fs::path& path) {
  fs::path normal = fs::absolute(path).lexically_normal();
  while (!normal.has_filename() && normal.has_relative_path()) normal = normal.parent_path();  // "out/"
  if (!normal.has_relative_path() || normal.filename() == "..") {
    throw Error(ErrorCode::kIo,
                kFlag + " " + path.string() + ": expected a directory name to create or replace");
  }
  return normal;
}

// `inner` equals `outer` or lies below it (both normalized).
bool within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (i == inner.end() || *i != *o) return false;
  }
  return true;
}

void check_not_an_input(const fs::path& output, const std::vector<ToolInput>& inputs) {
  std::error_code error;
  fs::path resolved_output = fs::weakly_canonical(output, error);
  if (error) resolved_output = output;
  for (const auto& [flag, input] : inputs) {
    if (input.empty()) continue;
    const fs::path resolved = fs::weakly_canonical(fs::absolute(input), error).lexically_normal();
    if (error) continue;  // an unreadable input fails with its own message later
    const char* relation = resolved == resolved_output         ? "is"
                           : within(resolved_output, resolved) ? "lies inside"
                           : within(resolved, resolved_output) ? "contains"
                                                               : nullptr;
    if (relation == nullptr) continue;
    throw Error(ErrorCode::kIo, kFlag + " " + output.string() + " " + relation + " " + flag + " " +
                                    resolved.string() +
                                    ": the output would replace or be mixed with the input; " + "choose an " +
                                    kFlag + " outside it");
  }
}

bool has_marker(const fs::path& dir) {
  std::error_code error;
  return fs::is_regular_file(fs::symlink_status(dir / kGeneratedMarker, error));
}

void check_replaceable(const fs::path& output) {
  std::error_code error;
  const fs::file_status status = fs::symlink_status(output, error);
  if (!fs::exists(status)) return;
  if (!fs::is_directory(status)) {
    throw Error(ErrorCode::kIo,
                kFlag + " " + output.string() + " exists and is not a directory; choose another " + kFlag);
  }
  if (fs::is_empty(output, error) || has_marker(output)) return;
  throw Error(ErrorCode::kIo, kFlag + " " + output.string() +
                                  " is a non-empty directory that no modelslim tool generated (no " +
                                  kGeneratedMarker + " in it), so it is left untouched; choose another " +
                                  kFlag + " or remove that directory yourself");
}

// ".<name>.<kind>-<pid>-XXXXXX" beside `output`, created empty (mkdtemp: never an existing path).
fs::path make_stage(const fs::path& output, const std::string& kind) {
  std::string name = (output.parent_path() / ("." + output.filename().string() + "." + kind + "-" +
                                              std::to_string(::getpid()) + "-XXXXXX"))
                         .string();
  if (::mkdtemp(name.data()) == nullptr) {
    throw Error(ErrorCode::kIo, kFlag + " " + output.string() +
                                    ": cannot create a directory beside it: " + std::strerror(errno));
  }
  return name;
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw Error(ErrorCode::kIo,
                "cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(errno));
  }
}

bool process_is_dead(long pid) {
  return pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// Stages of this output left by killed runs: only directories named like ours, whose process is gone and
// which are empty or carry the marker (a tool's own staging, or a generated output set aside).
void clear_stale_stages(const fs::path& output) {
  const std::string prefix = "." + output.filename().string() + ".";
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(output.parent_path(), error)) {
    const std::string name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0 || !entry.is_directory(error)) continue;
    const std::string rest = name.substr(prefix.size());
    const bool previous = rest.rfind("previous-", 0) == 0;
    if (!previous && rest.rfind("partial-", 0) != 0) continue;
    const std::string pid = rest.substr(rest.find('-') + 1, rest.rfind('-') - rest.find('-') - 1);
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    if (!process_is_dead(std::stol(pid)) ||
        !(fs::is_empty(entry.path(), error) || has_marker(entry.path()))) {
      continue;
    }
    std::error_code ignored;
    if (previous && !fs::exists(fs::symlink_status(output, ignored))) {
      fs::rename(entry.path(), output, ignored);  // killed between "old aside" and "new in"
    } else {
      fs::remove_all(entry.path(), ignored);
    }
  }
}

}  // namespace

GeneratedDir::GeneratedDir(const fs::path& output, std::string tool, const std::vector<ToolInput>& inputs)
    : output_(absolute_output(output)), tool_(std::move(tool)), inputs_(inputs) {
  check_not_an_input(output_, inputs_);
  check_replaceable(output_);
  fs::create_directories(output_.parent_path());
  clear_stale_stages(output_);
  staging_ = make_stage(output_, "partial");
  try {
    write_file_atomic(staging_ / kGeneratedMarker, nlohmann::json::object({{"tool", tool_}}).dump(2) + "\n");
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging_, ignored);
    throw;
  }
}

GeneratedDir::~GeneratedDir() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove_all(staging_, ignored);
}

void GeneratedDir::commit() {
  fsync_tree(staging_);
  check_not_an_input(output_, inputs_);
  check_replaceable(output_);  // still: nobody put their files there meanwhile
  std::error_code error;
  const bool replacing = fs::exists(fs::symlink_status(output_, error));
  const fs::path aside = replacing ? make_stage(output_, "previous") : fs::path();
  if (replacing) {
    try {
      rename_or_throw(output_, aside);  // over the empty directory mkdtemp made
    } catch (...) {
      fs::remove(aside, error);
      throw;
    }
  }
  try {
    rename_or_throw(staging_, output_);
  } catch (...) {
    if (replacing) fs::rename(aside, output_, error);
    throw;
  }
  committed_ = true;
  fsync_path(output_.parent_path());
  if (replacing) fs::remove_all(aside, error);
}

}  // namespace modelslim::tools
