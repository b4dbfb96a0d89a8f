// Keeps the calibration forward's activations resident between blocks.
#pragma once

namespace modelslim::core {

// glibc returns freed chunks above its mmap threshold (and a heap top above its trim threshold) to the
// kernel, so every block's activations are mmap'd and zeroed again page by page. This raises both for the
// process (once; MODELSLIM_BUFFER_POOL=0 leaves glibc's defaults, for comparisons): chunks under 32 MiB
// come from the heap and up to 256 MiB of free heap top stays mapped. The big per-block tensors
// (weights, integers) come from modelslim/buffer_pool.hpp instead.
void keep_heap_resident();

// Returns the heap's free pages to the kernel (malloc_trim): after the last block, before the embedding
// and lm_head are saved, what the blocks left free in the heap (a mixture-of-experts layer's groups of
// experts) should not add to the peak.
void release_free_heap();

}  // namespace modelslim::core
