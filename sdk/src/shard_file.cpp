#include "shard_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "direct_appender.hpp"
#include "modelslim/error.hpp"
#include "pwrite_fully.hpp"
#include "safetensors_header.hpp"

namespace modelslim::detail {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void io_error(const fs::path& file, const std::string& what) {
  throw Error(ErrorCode::kIo, file.string() + ": " + what + ": " + std::strerror(errno));
}

void pwrite_all(int fd, const char* data, std::uint64_t size, std::uint64_t offset, const fs::path& file) {
  if (const int error = pwrite_fully(fd, data, size, offset)) {
    errno = error;
    io_error(file, "write failed");
  }
}

void pread_all(int fd, char* data, std::uint64_t size, std::uint64_t offset, const fs::path& file) {
  while (size > 0) {
    const ssize_t got = ::pread(fd, data, size, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) io_error(file, "read back failed");
    data += got;
    offset += static_cast<std::uint64_t>(got);
    size -= static_cast<std::uint64_t>(got);
  }
}

// Moves [from, from + size) to `to` within the file, a chunk at a time in the order that never overwrites
// bytes not yet moved (front first when moving down, back first when moving up).
void move_data(int fd, std::uint64_t from, std::uint64_t to, std::uint64_t size, const fs::path& file) {
  constexpr std::uint64_t kChunk = std::uint64_t{8} << 20;
  std::vector<char> buffer(static_cast<std::size_t>(std::min(kChunk, size)));
  for (std::uint64_t done = 0; done < size;) {
    const std::uint64_t bytes = std::min(kChunk, size - done);
    const std::uint64_t at = to < from ? done : size - done - bytes;
    pread_all(fd, buffer.data(), bytes, from + at, file);
    pwrite_all(fd, buffer.data(), bytes, to + at, file);
    done += bytes;
  }
  if (to < from && ::ftruncate(fd, static_cast<off_t>(to + size)) != 0) io_error(file, "truncate failed");
}

}  // namespace

std::uint64_t planned_header_bytes(const std::vector<TensorInfo>& specs,
                                   const std::map<std::string, std::string>& metadata) {
  return safetensors_header_bytes(metadata, specs).size();
}

ShardFile::ShardFile(fs::path temp, std::uint64_t reserved_header)
    : temp_(std::move(temp)), reserved_(reserved_header) {
  fd_ = ::open(temp_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw Error(ErrorCode::kIo, temp_.string() + ": cannot create: " + std::strerror(errno),
                "check that the output directory exists and is writable");
  }
  direct_ = DirectAppender::open(temp_, reserved_);
}

ShardFile::~ShardFile() {
  direct_.reset();  // no write in flight once the file is removed
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) {
    std::error_code ignored;
    fs::remove(temp_, ignored);
  }
}

void ShardFile::add(const PendingTensor& pending) {
  const auto* bytes = static_cast<const char*>(pending.data.data_ptr());
  if (direct_) {
    direct_->append(bytes, pending.bytes);
  } else {
    pwrite_all(fd_, bytes, pending.bytes, reserved_ + data_bytes_, temp_);
  }
  data_bytes_ += pending.bytes;
  entries_.push_back(pending.info);
}

bool ShardFile::finish(const fs::path& path, const std::map<std::string, std::string>& metadata) {
  if (fd_ < 0) throw Error(ErrorCode::kUnexpected, temp_.string() + ": finish() after a failed finish()");
  if (direct_) {
    direct_->finish();
    direct_.reset();
    // The direct writer padded its last block: cut the file back to the data's end.
    if (::ftruncate(fd_, static_cast<off_t>(reserved_ + data_bytes_)) != 0)
      io_error(temp_, "truncate failed");
  }
  const std::string header = safetensors_header_bytes(metadata, entries_);
  const bool moved = header.size() != reserved_;
  if (moved) move_data(fd_, reserved_, header.size(), data_bytes_, temp_);
  pwrite_all(fd_, header.data(), header.size(), 0, temp_);
  if (::fsync(fd_) != 0) io_error(temp_, "fsync failed");
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) io_error(temp_, "close failed");  // a failed close publishes nothing
  std::error_code error;
  fs::rename(temp_, path, error);
  if (error) {
    throw Error(ErrorCode::kIo,
                path.string() + ": cannot rename " + temp_.string() + " into place: " + error.message());
  }
  finished_ = true;
  return moved;
}

}  // namespace modelslim::detail
