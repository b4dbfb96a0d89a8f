// Hadamard matrices (±1 entries, H·Hᵀ = n·I) from classical constructions, for rotation-based outlier
// suppression (QuaRot): Sylvester (powers of two), Paley I and II over GF(q) (q a prime power), Kronecker
// products, and Williamson arrays (156 = 4·39, 172 = 4·43). The supported orders follow the reference:
// n = 2^m, or n = K·2^m with K one of 12, 20, 28, 36, 40, 52, 60, 76, 108, 136, 140, 156, 160, 172, 200.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "modelslim/export.hpp"

namespace modelslim {

// The bases K an order may have besides a power of two, largest first (the reference's preference).
MODELSLIM_SDK_API const std::vector<std::int64_t>& hadamard_bases();

// True when n = 2^m or n = K·2^m for a listed K.
MODELSLIM_SDK_API bool hadamard_supported(std::int64_t n);

// The largest listed K with n = K·2^m (1 when n is a power of two). Throws Error(kUnsupported) naming n
// and the supported forms otherwise.
MODELSLIM_SDK_API std::int64_t hadamard_base_order(std::int64_t n);

// An n×n matrix of ±1 (at::kDouble, exact) with H·Hᵀ = n·I: H_K ⊗ Sylvester for n = K·2^m. Throws
// Error(kUnsupported) as hadamard_base_order does.
MODELSLIM_SDK_API at::Tensor hadamard_matrix(std::int64_t n);

}  // namespace modelslim
