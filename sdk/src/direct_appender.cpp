#include "direct_appender.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "modelslim/env_names.hpp"
#include "modelslim/error.hpp"
#include "pwrite_fully.hpp"

namespace modelslim::detail {
namespace {

namespace fs = std::filesystem;

// O_DIRECT needs the memory, the file offset and the length aligned to the device's logical block (512 or
// 4096 bytes); 4096 serves both.
constexpr std::uint64_t kAlign = 4096;
constexpr std::uint64_t kBufferBytes = std::uint64_t{8} << 20;

// MODELSLIM_DIRECT_IO: unset, empty or "1" (default) / "0"; anything else is refused.
bool direct_io_requested() {
  const char* value = std::getenv(env::kDirectIo);
  if (value == nullptr || *value == '\0' || std::string_view(value) == "1") return true;
  if (std::string_view(value) == "0") return false;
  throw Error(ErrorCode::kSchemaValidate,
              std::string(env::kDirectIo) + "=" + value + " is not a switch; expected 0 or 1",
              std::string("unset ") + env::kDirectIo +
                  " to write shards with direct I/O where the file system allows it");
}

}  // namespace

struct DirectAppender::Buffer {
  Buffer() : data(static_cast<char*>(std::aligned_alloc(kAlign, kBufferBytes))) {
    if (data == nullptr) throw std::bad_alloc();
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  char* data;
  std::uint64_t used = 0;
};

std::unique_ptr<DirectAppender> DirectAppender::open(const fs::path& file, std::uint64_t start) {
  if (!direct_io_requested()) return nullptr;
  const int fd = ::open(file.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) return nullptr;  // EINVAL: no O_DIRECT on this file system; the buffered path works
  return std::unique_ptr<DirectAppender>(new DirectAppender(file, fd, start));
}

DirectAppender::DirectAppender(fs::path file, int fd, std::uint64_t start)
    : file_(std::move(file)),
      fd_(fd),
      filling_(std::make_unique<Buffer>()),
      spare_(std::make_unique<Buffer>()),
      file_offset_(start / kAlign * kAlign) {
  // The first block starts before `start`: its leading bytes belong to the header, written later.
  filling_->used = start - file_offset_;
  std::memset(filling_->data, 0, filling_->used);
}

DirectAppender::~DirectAppender() {
  if (in_flight_.valid()) in_flight_.wait();  // its error, if any, no longer matters
  if (fd_ >= 0) ::close(fd_);
}

void DirectAppender::append(const char* data, std::uint64_t size) {
  while (size > 0) {
    const std::uint64_t bytes = std::min(size, kBufferBytes - filling_->used);
    std::memcpy(filling_->data + filling_->used, data, bytes);
    filling_->used += bytes;
    data += bytes;
    size -= bytes;
    if (filling_->used == kBufferBytes) flush(false);
  }
}

void DirectAppender::finish() {
  flush(true);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    throw Error(ErrorCode::kIo, file_.string() + ": close failed: " + std::strerror(errno),
                "check the file system holding the output; nothing was published");
  }
}

void DirectAppender::write_out(const char* data, std::uint64_t size, std::uint64_t offset) {
  int error = pwrite_fully(fd_, data, size, offset);
  if (error == EINVAL && !buffered_) {
    // The file system took O_DIRECT at open but refuses the writes (an alignment above 4 KiB, some FUSE
    // file systems): this block and the rest go through the page cache, to the same offsets.
    const int fd = ::open(file_.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::close(std::exchange(fd_, fd));
      buffered_ = true;
      error = pwrite_fully(fd_, data, size, offset);
    }
  }
  if (error != 0) {
    throw Error(
        ErrorCode::kIo, file_.string() + ": write failed: " + std::strerror(error),
        std::string("free disk space, or set ") + env::kDirectIo + "=0 to write through the page cache");
  }
}

void DirectAppender::flush(bool last) {
  if (in_flight_.valid()) in_flight_.get();  // rethrows the previous write's error; frees `spare_`
  if (filling_->used > 0) {
    const std::uint64_t padded = (filling_->used + kAlign - 1) / kAlign * kAlign;
    std::memset(filling_->data + filling_->used, 0, padded - filling_->used);
    std::swap(filling_, spare_);
    const char* data = spare_->data;
    in_flight_ = std::async(std::launch::async,
                            [this, data, padded, offset = file_offset_] { write_out(data, padded, offset); });
    file_offset_ += padded;  // only the last block is padded, so later blocks stay contiguous
    filling_->used = 0;
  }
  if (last && in_flight_.valid()) in_flight_.get();
}

}  // namespace modelslim::detail
