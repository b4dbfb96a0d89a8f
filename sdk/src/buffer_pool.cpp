#include "modelslim/buffer_pool.hpp"
#include "modelslim/env_names.hpp"

#include <ATen/ATen.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

namespace modelslim {
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kMinBytes = std::size_t{4} << 20;

bool reuse_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv(env::kBufferPool);
    return value == nullptr || std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

struct Cached {
  void* data;
  std::size_t round;  // the round it was given back in
};

// Free buffers by rounded size. Leaked on purpose at exit: tensors may die after static destructors run.
class Pool {
 public:
  void* take(std::size_t bytes) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      const auto found = free_.find(bytes);
      if (found != free_.end()) {
        void* data = found->second.data;
        free_.erase(found);
        stats_.cached_bytes -= bytes;
        ++stats_.reused;
        return data;
      }
      ++stats_.fresh;
    }
    void* data = nullptr;
    if (posix_memalign(&data, kHugePage, bytes) != 0) throw std::bad_alloc();
    ::madvise(data, bytes, MADV_HUGEPAGE);  // advice only: ordinary pages when refused
    return data;
  }

  void give_back(void* data, std::size_t bytes) {
    if (reuse_enabled()) {
      const std::lock_guard<std::mutex> lock(mutex_);
      free_.emplace(bytes, Cached{data, round_});
      stats_.cached_bytes += bytes;
      return;
    }
    std::free(data);
  }

  void next_round() {
    std::multimap<std::size_t, Cached> idle;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = free_.begin(); it != free_.end();) {
        if (it->second.round < round_) {  // given back before this round, not taken during it
          stats_.cached_bytes -= it->first;
          idle.insert(*it);
          it = free_.erase(it);
        } else {
          ++it;
        }
      }
      ++round_;
    }
    for (const auto& entry : idle) std::free(entry.second.data);
  }

  void release() {
    std::multimap<std::size_t, Cached> all;
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      all.swap(free_);
      stats_.cached_bytes = 0;
    }
    for (const auto& entry : all) std::free(entry.second.data);
  }

  BufferPoolStats stats() {
    const std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  std::mutex mutex_;
  std::multimap<std::size_t, Cached> free_;
  std::size_t round_ = 0;
  BufferPoolStats stats_;
};

Pool& pool() {
  static Pool* instance = new Pool();
  return *instance;
}

}  // namespace

at::Tensor pooled_empty(c10::IntArrayRef sizes, at::ScalarType dtype) {
  std::size_t bytes = at::elementSize(dtype);
  for (const std::int64_t size : sizes) bytes *= static_cast<std::size_t>(size);
  if (bytes < kMinBytes) return at::empty(sizes, dtype);
  const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* data = pool().take(rounded);
  return at::from_blob(
      data, sizes, [rounded](void* p) { pool().give_back(p, rounded); }, at::TensorOptions().dtype(dtype));
}

void buffer_pool_next_round() {
  pool().next_round();
}

void release_pooled_buffers() {
  pool().release();
}

BufferPoolStats buffer_pool_stats() {
  return pool().stats();
}

}  // namespace modelslim
