// A positioned write of every byte, retrying short writes and EINTR (internal to the SDK).
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstdint>

namespace modelslim::detail {

// 0, or the errno of the write that failed (EIO for a write that made no progress).
inline int pwrite_fully(int fd, const char* data, std::uint64_t size, std::uint64_t offset) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return written < 0 ? errno : EIO;
    data += written;
    offset += static_cast<std::uint64_t>(written);
    size -= static_cast<std::uint64_t>(written);
  }
  return 0;
}

}  // namespace modelslim::detail
