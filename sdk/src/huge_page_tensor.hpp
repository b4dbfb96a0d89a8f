// Large output tensors backed by transparent huge pages.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace modelslim {

// An uninitialised contiguous CPU tensor like at::empty; from 4 MiB up its memory is 2 MiB-aligned and
// advised MADV_HUGEPAGE, so first touch costs one page fault per 2 MiB instead of per 4 KiB (on a loaded VM
// here a 4 KiB fault took ~60 µs: 650 ms to first touch 45 MB, 5–60 ms with huge pages). Where the kernel
// declines the advice the memory behaves as ordinary pages. Its storage cannot be resized.
at::Tensor empty_huge_paged(c10::IntArrayRef sizes, at::ScalarType dtype);

}  // namespace modelslim
