// Keeps the calibration forward's activations resident between blocks.
#pragma once

namespace modelslim::core {

// glibc returns freed chunks above its mmap threshold (and a heap top above its trim threshold) to the
// kernel, so every block's activations are mmap'd and zeroed again page by page. This raises both for the
// process (once; MODELSLIM_BUFFER_POOL=0 leaves glibc's defaults, for comparisons): chunks under 32 MiB
// come from the heap and up to 256 MiB of free heap top stays mapped. The big per-block tensors
// (weights, integers) come from modelslim/buffer_pool.hpp instead.
void keep_heap_resident();

}  // namespace modelslim::core
