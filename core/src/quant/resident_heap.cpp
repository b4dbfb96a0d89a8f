#include "resident_heap.hpp"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "modelslim/env_names.hpp"

namespace modelslim::core {

void keep_heap_resident() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* pool = std::getenv(env::kBufferPool);
    if (pool != nullptr && std::strcmp(pool, "0") == 0) return;
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's ceiling for this setting on 64-bit
    ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  });
}

void release_free_heap() {
  ::malloc_trim(0);
}

}  // namespace modelslim::core
