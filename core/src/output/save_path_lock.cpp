#include "modelslim/core/save_path_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "modelslim/core/interrupt_cleanup.hpp"
#include "modelslim/error.hpp"

namespace modelslim::core {
namespace {

std::string holder_of(int fd) {
  char buffer[32] = {};
  const ssize_t got = ::pread(fd, buffer, sizeof buffer - 1, 0);
  std::string pid = got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "another process" : "process " + pid;
}

// The lock file we hold is still the one at `file` (an earlier holder may have removed it before we locked).
bool same_file(int fd, const std::filesystem::path& file) {
  struct stat held {};
  struct stat named {};
  return ::fstat(fd, &held) == 0 && ::stat(file.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
         held.st_dev == named.st_dev;
}

}  // namespace

std::filesystem::path SavePathLock::lock_file(const std::filesystem::path& save_path) {
  return save_path.parent_path() / ("." + save_path.filename().string() + ".lock");
}

SavePathLock::SavePathLock(const std::filesystem::path& save_path, const std::string& flag)
    : file_(lock_file(save_path)) {
  std::error_code ignored;
  std::filesystem::create_directories(file_.parent_path(), ignored);
  for (;;) {
    fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0) {
      throw Error(ErrorCode::kIo,
                  flag + " " + save_path.string() + ": cannot create the lock file " + file_.string() + ": " +
                      std::strerror(errno),
                  "choose a " + flag + " in a writable directory");
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      const std::string holder = holder_of(fd_);
      ::close(fd_);
      fd_ = -1;
      if (error != EWOULDBLOCK) {
        throw Error(ErrorCode::kIo, file_.string() + ": cannot lock: " + std::strerror(error));
      }
      throw Error(
          ErrorCode::kIo,
          flag + " " + save_path.string() + " is in use by " + holder + " (lock " + file_.string() + ")",
          "wait for that run to finish, or choose another " + flag);
    }
    if (same_file(fd_, file_)) break;
    ::close(fd_);  // locked a file its holder removed: take the current one
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Without the pid the lock still holds; only a second run's refusal message is less precise.
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
  register_interrupt_cleanup(file_);  // a SIGINT/SIGTERM removes it too, while we still hold it
}

SavePathLock::~SavePathLock() {
  if (fd_ < 0) return;
  unregister_interrupt_cleanup(file_);
  ::unlink(file_.c_str());  // while still locked: a waiter re-checks the inode (same_file)
  ::close(fd_);
}

bool lock_held_by_parent() {
  const char* holder = std::getenv(kLockHolderEnv);
  return holder != nullptr && std::to_string(::getppid()) == holder;
}

}  // namespace modelslim::core
