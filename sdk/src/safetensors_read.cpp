// The reading paths the layer-wise runner uses besides SafetensorsFile::load (since SDK 4.2): converting
// a tensor straight into a caller's buffer, and reading a tensor's bytes into the page cache ahead of time.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"
#include "modelslim/safetensors.hpp"
#include "shape_text.hpp"

namespace modelslim {
namespace {

constexpr std::uint64_t kChunk = std::uint64_t{1} << 20;

// Closes a descriptor on every path out of a read.
struct ClosingFd {
  int fd;
  ~ClosingFd() { ::close(fd); }
};

void read_exactly(int fd, char* data, std::uint64_t size, std::uint64_t offset,
                  const std::filesystem::path& file, const std::string& name) {
  while (size > 0) {
    const ssize_t got = ::pread(fd, data, size, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      throw Error(ErrorCode::kIo,
                  file.string() + ": reading '" + name +
                      "' failed: " + (got == 0 ? std::string("the file ends early") : std::strerror(errno)),
                  "check that the checkpoint is not being rewritten while modelslim reads it");
    }
    data += got;
    offset += static_cast<std::uint64_t>(got);
    size -= static_cast<std::uint64_t>(got);
  }
}

}  // namespace

void SafetensorsFile::load_into(const std::string& name, at::Tensor& out) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) {
    throw Error(ErrorCode::kInvalidModel, path_.string() + ": no tensor named '" + name + "'");
  }
  const at::ScalarType stored = scalar_type_from_safetensors(info->dtype);
  if (out.sizes() != at::IntArrayRef(info->shape) || !out.is_contiguous() || !out.device().is_cpu() ||
      (out.scalar_type() != stored &&
       !(at::isFloatingType(out.scalar_type()) && at::isFloatingType(stored)))) {
    throw Error(ErrorCode::kUnexpected,
                path_.string() + ": load_into '" + name + "': the target is " + shape_text(out.sizes()) +
                    " " + c10::toString(out.scalar_type()) + ", but the tensor is " +
                    shape_text(info->shape) + " " + info->dtype,
                "pass a contiguous CPU tensor of the tensor's shape, in its dtype or a floating dtype");
  }
  // Read with pread into a small buffer rather than through the mapping: touching mapped page-cache
  // pages costs a fault per page group and a TLB walk per page, about twice the CPU of the kernel's copy
  // (400 MB of bf16 widened to float32: 0.58 CPU-s mapped, 0.29 s read; docs/performance.md).
  const ClosingFd file{::open(path_.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) {
    throw Error(ErrorCode::kIo,
                path_.string() + ": cannot open to read '" + name + "': " + std::strerror(errno));
  }
  thread_local std::vector<char> buffer(kChunk);
  const std::uint64_t begin = data_offset_ + info->data_begin;
  const std::uint64_t size = info->data_end - info->data_begin;
  const std::uint64_t element = c10::elementSize(stored);
  const at::Tensor flat = out.view({-1});
  for (std::uint64_t done = 0; done < size; done += kChunk) {
    const std::uint64_t bytes = std::min(kChunk, size - done);
    read_exactly(file.fd, buffer.data(), bytes, begin + done, path_, name);
    const auto count = static_cast<std::int64_t>(bytes / element);
    const auto first = static_cast<std::int64_t>(done / element);
    // float16/bfloat16 → float32 widening is exact: the same values load(name).to(dtype) gives.
    flat.narrow(0, first, count).copy_(at::from_blob(buffer.data(), {count}, stored));
    // Checked in the stored dtype while the chunk is in cache, as load does.
    if (const auto bad = find_non_finite(buffer.data(), count, stored)) {
      throw Error(ErrorCode::kInvalidModel,
                  path_.string() + ": tensor '" + name + "' holds " + describe_non_finite(out, first + *bad),
                  "the checkpoint is damaged or was saved after a diverged training step; re-export it");
    }
  }
}

void SafetensorsFile::prefetch(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr) return;  // load reports it
  // pread into a small buffer: the pages land in the page cache, nothing is mapped into this process.
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;  // advisory: load reports a real problem
  std::vector<char> buffer(kChunk);
  const std::uint64_t end = data_offset_ + info->data_end;
  for (std::uint64_t offset = data_offset_ + info->data_begin; offset < end;) {
    const ssize_t got =
        ::pread(fd, buffer.data(), std::min<std::uint64_t>(kChunk, end - offset), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    offset += static_cast<std::uint64_t>(got);
  }
  ::close(fd);
}

void SafetensorsCheckpoint::load_into(const std::string& name, at::Tensor& out) const {
  info(name);  // same checks and messages as load
  file_for(name)->load_into(name, out);
}

void SafetensorsCheckpoint::prefetch(const std::string& name) const {
  if (contains(name)) file_for(name)->prefetch(name);
}

}  // namespace modelslim
