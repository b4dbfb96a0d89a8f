// Hadamard matrices (±1 entries, H·Hᵀ = n·I) from classical constructions, for rotation-based outlier
// suppression (QuaRot): Sylvester (powers of two), Paley I and II over GF(q) (q a prime power), and
// Kronecker products. The supported orders follow the reference: n = K·2^m with K one of
// 12, 20, 28, 36, 40, 52, 60, 76, 108, 136, 140, 156, 160, 172, 200 (or K = 1).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace modelslim {

// The bases K an order may have besides a power of two, largest first (the reference's preference).
const std::vector<std::int64_t>& hadamard_bases();

// The largest base K with n = K·2^m (1 when n is a power of two); 0 when n has no such form.
std::int64_t hadamard_base_order(std::int64_t n);

// True when hadamard_matrix(n) can build the order.
bool hadamard_supported(std::int64_t n);

// An n×n matrix of ±1 (float32, exact) with H·Hᵀ = n·I. Throws Error(kUnsupported) naming n and the
// supported forms otherwise.
at::Tensor hadamard_matrix(std::int64_t n);

}  // namespace modelslim
