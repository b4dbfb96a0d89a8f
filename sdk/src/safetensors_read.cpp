// The reading paths the layer-wise runner uses besides SafetensorsFile::load (since SDK 4.2): converting
// a tensor straight into a caller's buffer, and reading a tensor's bytes into the page cache ahead of time.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"
#include "modelslim/safetensors.hpp"

namespace modelslim {
namespace {

constexpr std::uint64_t kChunk = std::uint64_t{1} << 20;

// MADV_WILLNEED / MADV_DONTNEED over the pages behind [begin, begin + size) of a mapping. Best effort.
void advise(const void* map, std::uint64_t begin, std::uint64_t size, int advice) {
  if (size == 0) return;
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t first = begin / page * page;
  ::madvise(const_cast<char*>(static_cast<const char*>(map)) + first, begin + size - first, advice);
}

std::string shape_text(at::IntArrayRef shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
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
  const std::uint64_t begin = data_offset_ + info->data_begin;
  const std::uint64_t size = info->data_end - info->data_begin;
  advise(map_, begin, size, MADV_WILLNEED);
  const auto* source = static_cast<const char*>(map_) + begin;
  const std::uint64_t element = c10::elementSize(stored);
  const at::Tensor flat = out.view({-1});
  for (std::uint64_t done = 0; done < size; done += kChunk) {
    const std::uint64_t bytes = std::min(kChunk, size - done);
    const auto count = static_cast<std::int64_t>(bytes / element);
    const auto first = static_cast<std::int64_t>(done / element);
    // Checked in the stored dtype while the chunk is in cache, as load does.
    if (const auto bad = find_non_finite(source + done, count, stored)) {
      advise(map_, begin, size, MADV_DONTNEED);
      flat.narrow(0, first, count).copy_(at::from_blob(const_cast<char*>(source + done), {count}, stored));
      throw Error(ErrorCode::kInvalidModel,
                  path_.string() + ": tensor '" + name + "' holds " + describe_non_finite(out, first + *bad),
                  "the checkpoint is damaged or was saved after a diverged training step; re-export it");
    }
    // float16/bfloat16 → float32 widening is exact: the same values load(name).to(dtype) gives.
    flat.narrow(0, first, count).copy_(at::from_blob(const_cast<char*>(source + done), {count}, stored));
  }
  advise(map_, begin, size, MADV_DONTNEED);  // resident memory follows the tensors in use
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
