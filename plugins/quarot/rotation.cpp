#include "rotation.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include <ATen/CPUGeneratorImpl.h>

#include "modelslim/error.hpp"
#include "modelslim/hadamard.hpp"

namespace modelslim::quarot {

at::Tensor random_hadamard_rotation(std::int64_t n, std::int64_t block_size, std::uint64_t seed) {
  const std::int64_t order = block_size > 0 ? block_size : n;
  if (n % order != 0) {
    throw Error(ErrorCode::kUnsupported, "quarot: block_size " + std::to_string(block_size) +
                                             " does not divide the dimension " + std::to_string(n));
  }
  // Signs from a private generator so the rotation depends on the seed only, not on global RNG state.
  const at::Generator generator = at::detail::createCPUGenerator(seed);
  const at::Tensor signs =
      at::randint(0, 2, {order}, generator, at::TensorOptions().dtype(at::kDouble)) * 2.0 - 1.0;
  const at::Tensor block =
      (signs.unsqueeze(1) * hadamard_matrix(order) / std::sqrt(static_cast<double>(order))).to(at::kFloat);
  if (order == n) return block;
  return at::block_diag(std::vector<at::Tensor>(static_cast<std::size_t>(n / order), block));
}

void rotate_input(at::Tensor& weight, const at::Tensor& rotation) {
  weight.copy_(at::matmul(weight.to(at::kFloat), rotation).to(weight.scalar_type()));
}

void rotate_output(at::Tensor& weight, const at::Tensor& rotation) {
  const at::Tensor as_float = weight.to(at::kFloat);
  const at::Tensor rotated = weight.dim() == 1 ? at::matmul(as_float, rotation)  // bias: bᵀ·R
                                               : at::matmul(rotation.t(), as_float);
  weight.copy_(rotated.to(weight.scalar_type()));
}

}  // namespace modelslim::quarot
