#include "modelslim/core/staging_dir.hpp"
#include "modelslim/core/env_names.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "modelslim/atomic_file.hpp"
#include "modelslim/core/interrupt_cleanup.hpp"
#include "modelslim/core/output_path.hpp"
#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

namespace fs = std::filesystem;

bool process_is_dead(long pid) {
  return pid > 0 && pid != ::getpid() && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

// A stage this host's modelslim made: marker naming this host (or none yet: created, not filled).
bool made_here(const fs::path& dir) {
  std::error_code error;
  if (fs::is_empty(dir, error)) return true;
  if (!has_output_marker(dir)) return false;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  try {
    std::FILE* file = std::fopen((dir / kOutputMarker).c_str(), "rb");
    if (file == nullptr) return false;
    const nlohmann::json marker = nlohmann::json::parse(file);
    std::fclose(file);
    return !marker.contains("host") || marker["host"] == host;
  } catch (const std::exception&) {
    return false;
  }
}

void rename_or_throw(const fs::path& from, const fs::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    throw Error(ErrorCode::kIo,
                "cannot rename " + from.string() + " to " + to.string() + ": " + std::strerror(errno));
  }
}

// Tests interrupt a run at its most expensive moment: everything written, nothing published yet.
void test_pause_before_commit(const fs::path& staging) {
  if (std::getenv(env::kTestPauseBeforeCommit) == nullptr) return;
  std::fprintf(stderr, "%s: %s is complete; waiting for a signal\n", env::kTestPauseBeforeCommit,
               staging.c_str());
  std::fflush(stderr);
  for (;;) ::pause();
}

}  // namespace

void remove_stale_staging(const fs::path& dir) {
  static const std::regex stage(R"(\.(.+)\.(partial|previous)-(\d{1,9}))");
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    std::smatch match;
    if (!std::regex_match(name, match, stage) || !entry.is_directory(error)) continue;
    if (!process_is_dead(std::stol(match[3].str())) || !made_here(entry.path())) continue;
    std::error_code ignored;
    const fs::path final_path = dir / match[1].str();
    if (match[2] == "previous" && !fs::exists(fs::symlink_status(final_path, ignored))) {
      // Killed between "old aside" and "new in": the old output is the only complete one.
      fs::rename(entry.path(), final_path, ignored);
      continue;
    }
    fs::remove_all(entry.path(), ignored);
  }
}

bool swap_into_place(const fs::path& from, const fs::path& to, const fs::path& aside) {
  std::error_code ignored;
  const bool replacing = fs::exists(fs::symlink_status(to, ignored));
  if (replacing) {
    fs::remove_all(aside, ignored);
    rename_or_throw(to, aside);
  }
  try {
    rename_or_throw(from, to);
  } catch (const Error& error) {
    if (!replacing) throw Error(ErrorCode::kIo, std::string(error.what()) + "; nothing was published");
    if (::rename(aside.c_str(), to.c_str()) != 0) {
      throw Error(ErrorCode::kIo,
                  std::string(error.what()) + "; the previous output is kept at " + aside.string(),
                  "rename it back to " + to.string());
    }
    throw Error(ErrorCode::kIo, std::string(error.what()) + "; the previous output is unchanged");
  }
  return replacing;
}

StagingDir::StagingDir(const fs::path& final_path)
    : final_(normalize_output_path(final_path, "--save_path")) {
  const fs::path parent = final_.parent_path();
  std::error_code error;
  fs::create_directories(parent, error);
  if (error || ::access(parent.c_str(), W_OK) != 0) {
    throw Error(ErrorCode::kIo, "--save_path " + final_.string() + ": cannot write into " + parent.string(),
                "choose a save_path in a writable directory");
  }
  check_output_path(final_, "--save_path", {});
  install_interrupt_cleanup();
  remove_stale_staging(parent);
  staging_ = parent / ("." + final_.filename().string() + ".partial-" + std::to_string(::getpid()));
  fs::remove_all(staging_, error);  // this process's own leftover
  register_interrupt_cleanup(staging_);
  fs::create_directory(staging_, error);
  if (error) {
    unregister_interrupt_cleanup(staging_);
    throw Error(ErrorCode::kIo, "--save_path " + final_.string() + ": cannot create " + staging_.string() +
                                    ": " + error.message());
  }
  try {
    write_output_marker(staging_);
  } catch (...) {
    fs::remove_all(staging_, error);
    unregister_interrupt_cleanup(staging_);
    throw;
  }
}

StagingDir::~StagingDir() {
  if (committed_) return;
  std::error_code ignored;
  fs::remove_all(staging_, ignored);
  unregister_interrupt_cleanup(staging_);
}

void StagingDir::commit() {
  test_pause_before_commit(staging_);
  fsync_tree(staging_);
  const fs::path previous =
      final_.parent_path() / ("." + final_.filename().string() + ".previous-" + std::to_string(::getpid()));
  bool replacing = false;
  {
    // A signal now waits until both renames are done (or undone).
    const std::lock_guard<std::recursive_mutex> lock(interrupt_cleanup_mutex());
    check_output_path(final_, "--save_path", {});  // still ours: nobody put files there meanwhile
    replacing = swap_into_place(staging_, final_, previous);
    committed_ = true;
    unregister_interrupt_cleanup(staging_);
    fsync_path(final_.parent_path());
  }
  if (replacing) {
    std::error_code ignored;
    fs::remove_all(previous, ignored);  // if this is cut short, the next run's remove_stale_staging ends it
  }
}

}  // namespace modelslim::core
