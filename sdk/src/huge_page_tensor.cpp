#include "huge_page_tensor.hpp"

#include <ATen/ATen.h>
#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace modelslim {
namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kMinBytes = std::size_t{4} << 20;
}  // namespace

at::Tensor empty_huge_paged(c10::IntArrayRef sizes, at::ScalarType dtype) {
  std::size_t bytes = at::elementSize(dtype);
  for (const std::int64_t size : sizes) bytes *= static_cast<std::size_t>(size);
  if (bytes < kMinBytes) return at::empty(sizes, dtype);
  const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* data = nullptr;
  if (posix_memalign(&data, kHugePage, rounded) != 0) throw std::bad_alloc();
  madvise(data, rounded, MADV_HUGEPAGE);  // advice only: ordinary pages when refused
  return at::from_blob(
      data, sizes, [](void* p) { std::free(p); }, at::TensorOptions().dtype(dtype));
}

}  // namespace modelslim
