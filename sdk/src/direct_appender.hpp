// Appends a file's data region through O_DIRECT: bytes are copied into aligned staging buffers and a
// background thread writes each full one while the caller fills the next. Buffered writes copy every byte
// into fresh page-cache pages in the kernel, which costs more CPU than the copy itself on virtual machines
// (1 GiB: 3.2 s system time buffered, 0.21 s direct, measured on the 2-core VM; docs/performance.md), and
// a quantized model is written once and not read back. Internal to the SDK (ShardFile).
#pragma once

#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>

namespace modelslim::detail {

class DirectAppender {
 public:
  // Appends at byte `start` of `file` (already created; the bytes before `start` are written later through
  // the file's ordinary descriptor). Null when direct I/O is off (MODELSLIM_DIRECT_IO=0) or the file
  // system refuses O_DIRECT: the caller then writes as before.
  static std::unique_ptr<DirectAppender> open(const std::filesystem::path& file, std::uint64_t start);
  ~DirectAppender();  // waits for a write in flight; an unfinished file is the caller's to remove
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  // Copies `size` bytes into the staging buffer; writes full buffers. Errors name the file.
  void append(const char* data, std::uint64_t size);
  // Writes the rest, waits and closes the direct descriptor (a failed close is an error). The last block is
  // padded to the alignment: the caller truncates the file to its real length (it also writes the header in
  // front, which the first block left zero).
  void finish();

 private:
  struct Buffer;
  DirectAppender(std::filesystem::path file, int fd, std::uint64_t start);
  void flush(bool last);
  // On the background thread, one block at a time (the only user of fd_ and buffered_ while it runs).
  void write_out(const char* data, std::uint64_t size, std::uint64_t offset);

  std::filesystem::path file_;
  int fd_ = -1;
  bool buffered_ = false;  // the file system refused a direct write: fd_ is an ordinary descriptor now
  std::unique_ptr<Buffer> filling_;  // the buffer append() copies into
  std::unique_ptr<Buffer> spare_;    // the other one: written by the background thread, or free
  std::future<void> in_flight_;      // the write of `spare_`, if one runs
  std::uint64_t file_offset_ = 0;    // where `filling_` starts in the file (aligned)
};

}  // namespace modelslim::detail
