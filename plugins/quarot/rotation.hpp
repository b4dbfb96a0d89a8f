// Randomised Hadamard rotations for QuaRot: R = diag(±1) · H / √n, orthogonal, built from the SDK's
// Hadamard constructions; optionally block-diagonal with b×b blocks.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace modelslim::quarot {

// n×n float32 orthogonal matrix. block_size −1: one rotation over all n; otherwise blockdiag of b×b copies
// (b a power of two dividing n). Deterministic in `seed`. Throws Error(kUnsupported) for orders without a
// Hadamard construction.
at::Tensor random_hadamard_rotation(std::int64_t n, std::int64_t block_size, std::uint64_t seed);

// W ← W·R (rows read the rotated basis): input columns of a reader.
void rotate_input(at::Tensor& weight, const at::Tensor& rotation);
// W ← Rᵀ·W, b ← Rᵀ·b: output rows of a writer.
void rotate_output(at::Tensor& weight, const at::Tensor& rotation);

}  // namespace modelslim::quarot
