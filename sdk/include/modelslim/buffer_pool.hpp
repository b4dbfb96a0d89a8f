// Reusable large CPU buffers (since SDK 4.2). The layer-wise runner allocates the same big tensors for every
// block (float32 weights, quantized integers); each fresh one is mmap'd by malloc and zeroed by the kernel
// page by page on first touch, every block. A tensor from pooled_empty gives its memory back to a
// process-wide pool when its last reference dies (never earlier, so a block kept alive elsewhere keeps its
// memory), and the next request of the same rounded size takes it back, already resident.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

#include <cstddef>

#include "modelslim/export.hpp"

namespace modelslim {

struct BufferPoolStats {
  std::size_t cached_bytes = 0;  // free buffers held for reuse
  std::size_t fresh = 0;         // buffers allocated from the system
  std::size_t reused = 0;        // requests served from the pool
};

// Like at::empty (uninitialised, contiguous). From 4 MiB up the memory is 2 MiB-aligned, advised
// MADV_HUGEPAGE and pooled; smaller requests are plain at::empty. MODELSLIM_BUFFER_POOL=0 turns reuse off
// (freed buffers go back to the system at once), for comparisons.
MODELSLIM_SDK_API at::Tensor pooled_empty(c10::IntArrayRef sizes, at::ScalarType dtype);

// Starts a new round (the runner calls it once per block): cached buffers that sat unused for a whole
// round are freed, so the pool holds at most what one round uses.
MODELSLIM_SDK_API void buffer_pool_next_round();

// Frees every cached buffer (after the last block, before the non-block tensors are read).
MODELSLIM_SDK_API void release_pooled_buffers();

MODELSLIM_SDK_API BufferPoolStats buffer_pool_stats();

}  // namespace modelslim
