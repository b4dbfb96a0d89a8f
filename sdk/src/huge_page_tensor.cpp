#include "huge_page_tensor.hpp"

#include "modelslim/buffer_pool.hpp"

namespace modelslim {

at::Tensor empty_huge_paged(c10::IntArrayRef sizes, at::ScalarType dtype) {
  return pooled_empty(sizes, dtype);  // huge pages, and the memory is reused by the next block's outputs
}

}  // namespace modelslim
