// One safetensors file written in place: tensor data goes straight to its final offset after a reserved
// header region; finish() writes the header in front (moving the data first if the header's real length
// differs from the reservation), fsyncs, closes and renames the temp file into place. The data goes through
// direct I/O where the file system allows it (direct_appender.hpp). Internal to the SDK.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "modelslim/safetensors.hpp"
#include "safetensors_header.hpp"

namespace modelslim::detail {

class DirectAppender;

class ShardFile {
 public:
  // Creates `temp` (truncating a stale one); data starts at byte `reserved_header`.
  ShardFile(std::filesystem::path temp, std::uint64_t reserved_header);
  ~ShardFile();  // unfinished: closes and removes the temp file
  ShardFile(const ShardFile&) = delete;
  ShardFile& operator=(const ShardFile&) = delete;

  // A tensor checked and laid out by the caller (pending_tensor at the end of the data written so far, a name
  // new to the file): its bytes are written here.
  void add(const PendingTensor& pending);
  // Publishes the file as `path`. Returns whether the data had to be moved (the reservation was wrong).
  bool finish(const std::filesystem::path& path, const std::map<std::string, std::string>& metadata);

 private:
  std::filesystem::path temp_;
  std::uint64_t reserved_;
  int fd_ = -1;
  std::unique_ptr<DirectAppender> direct_;  // the data region's writer; null: pwrite through fd_
  std::vector<TensorInfo> entries_;
  std::uint64_t data_bytes_ = 0;
  bool finished_ = false;
};

// The header bytes (length prefix + padded JSON) of a file holding `specs` in this order.
std::uint64_t planned_header_bytes(const std::vector<TensorInfo>& specs,
                                   const std::map<std::string, std::string>& metadata);

}  // namespace modelslim::detail
