// modelslim/buffer_pool.hpp: a big tensor's memory goes back to the pool only when its last reference dies,
// the next request of the same rounded size takes it back, and idle buffers are freed after a whole round.
#include "support/doctest.hpp"

#include <ATen/ATen.h>

#include "modelslim/buffer_pool.hpp"

using namespace modelslim;

namespace {
// An odd size no other test of this executable asks for: 22 MiB of float32 (rounded to 2 MiB pages).
const std::vector<std::int64_t> kShape = {11, 512, 1024};
constexpr std::size_t kBytes = std::size_t{22} << 20;
}  // namespace

TEST_CASE("buffer pool: freed big tensors are reused, live ones never are") {
  release_pooled_buffers();
  const BufferPoolStats start = buffer_pool_stats();
  void* first_data = nullptr;
  {
    at::Tensor first = pooled_empty(kShape, at::kFloat);
    first_data = first.data_ptr();
    CHECK(reinterpret_cast<std::uintptr_t>(first_data) % (std::uintptr_t{2} << 20) == 0);
    first.fill_(3.0f);
    at::Tensor view = first.narrow(0, 1, 2);  // a view keeps the storage alive
    first.reset();
    const at::Tensor second = pooled_empty(kShape, at::kFloat);
    CHECK(second.data_ptr() != first_data);  // still referenced by `view`
    CHECK(view.min().item<float>() == 3.0f);
  }
  // Both are back in the pool now; the next two requests take them, no fresh allocation.
  CHECK(buffer_pool_stats().cached_bytes == start.cached_bytes + 2 * kBytes);
  const std::size_t fresh = buffer_pool_stats().fresh;
  {
    const at::Tensor a = pooled_empty(kShape, at::kFloat);
    const at::Tensor b = pooled_empty({kShape[0] * 2, kShape[1], kShape[2]}, at::kHalf);  // same bytes
    CHECK((a.data_ptr() == first_data || b.data_ptr() == first_data));
    CHECK(buffer_pool_stats().fresh == fresh);
    CHECK((b.scalar_type() == at::kHalf));
    CHECK((b.sizes() == at::IntArrayRef({22, 512, 1024})));
  }
  CHECK(buffer_pool_stats().reused == start.reused + 2);
}

TEST_CASE("buffer pool: small tensors bypass it; idle buffers are freed after a whole round") {
  release_pooled_buffers();
  const BufferPoolStats start = buffer_pool_stats();
  { const at::Tensor small = pooled_empty({1024, 1023}, at::kFloat); }  // < 4 MiB: plain at::empty
  CHECK(buffer_pool_stats().fresh == start.fresh);
  CHECK(buffer_pool_stats().cached_bytes == 0);

  { const at::Tensor big = pooled_empty(kShape, at::kFloat); }
  CHECK(buffer_pool_stats().cached_bytes == kBytes);
  buffer_pool_next_round();  // given back during the round that just ended: kept
  CHECK(buffer_pool_stats().cached_bytes == kBytes);
  buffer_pool_next_round();  // not taken during a whole round: freed
  CHECK(buffer_pool_stats().cached_bytes == 0);

  { const at::Tensor big = pooled_empty(kShape, at::kFloat); }
  release_pooled_buffers();
  CHECK(buffer_pool_stats().cached_bytes == 0);
}
