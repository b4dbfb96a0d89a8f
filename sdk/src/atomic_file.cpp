#include "modelslim/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "modelslim/error.hpp"

namespace modelslim {
namespace {

[[noreturn]] void io_error(const std::filesystem::path& file, const std::string& what, int error) {
  throw Error(ErrorCode::kIo, file.string() + ": " + what + ": " + std::strerror(error),
              "check free disk space and permissions of " + file.parent_path().string());
}

// Owns a descriptor; the destructor only closes what a failure path left open.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // close(2) reports deferred write errors (NFS, some FUSE): checked, never ignored.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

void write_all_to_temp(int fd, const char* data, std::size_t size, const std::filesystem::path& temp) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) io_error(temp, "write failed", written < 0 ? errno : EIO);
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

// A temp name no other writer (thread, process, crashed run) uses: created with O_EXCL.
std::filesystem::path create_temp(const std::filesystem::path& file, int& fd) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::filesystem::path temp =
        file.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd >= 0) return temp;
    if (errno != EEXIST) io_error(file, "cannot create a temporary file " + temp.string(), errno);
  }
  io_error(file, "cannot create a temporary file", EEXIST);
}

// Creates the temp file, lets `fill` write into it, then publishes it. Removes the temp file on failure.
template <typename Fill>
void publish(const std::filesystem::path& file, Fill fill) {
  int raw = -1;
  const std::filesystem::path temp = create_temp(file, raw);
  Fd fd(raw);
  try {
    fill(fd.get(), temp);
    if (::fsync(fd.get()) != 0) io_error(temp, "fsync failed", errno);
    if (fd.close() != 0) io_error(temp, "close failed", errno);
    if (::rename(temp.c_str(), file.c_str()) != 0)
      io_error(file, "cannot rename " + temp.string() + " into place", errno);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
  const std::filesystem::path parent = file.parent_path();
  fsync_path(parent.empty() ? std::filesystem::path(".") : parent);
}

}  // namespace

void write_file_atomic(const std::filesystem::path& file, std::string_view bytes) {
  publish(file, [&](int fd, const std::filesystem::path& temp) {
    write_all_to_temp(fd, bytes.data(), bytes.size(), temp);
  });
}

void copy_file_atomic(const std::filesystem::path& from, const std::filesystem::path& to) {
  const Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) io_error(from, "cannot open for copying to " + to.string(), errno);
  publish(to, [&](int fd, const std::filesystem::path& temp) {
    char buffer[1 << 16];
    for (;;) {
      const ssize_t got = ::read(in.get(), buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) io_error(from, "read failed", errno);
      if (got == 0) return;
      write_all_to_temp(fd, buffer, static_cast<std::size_t>(got), temp);
    }
  });
}

void fsync_path(const std::filesystem::path& path) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.get() < 0) io_error(path, "cannot open for fsync", errno);
  // Some file systems do not sync directories (EINVAL): nothing more can be done there.
  if (::fsync(fd.get()) != 0 && errno != EINVAL) io_error(path, "fsync failed", errno);
}

void fsync_tree(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::recursive_directory_iterator it(dir, error);
  for (; !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    const std::filesystem::file_status status = it->symlink_status(error);
    if (error) break;
    if (std::filesystem::is_regular_file(status) || std::filesystem::is_directory(status)) {
      fsync_path(it->path());
    }
  }
  if (error) io_error(dir, "cannot list for fsync", error.value());
  fsync_path(dir);
}

}  // namespace modelslim
