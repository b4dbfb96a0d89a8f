#include "modelslim/distributed.hpp"

#include "modelslim/error.hpp"

#include <ATen/ATen.h>

namespace modelslim {

Communicator::~Communicator() = default;

at::Tensor broadcast_tensor(Communicator& communicator, const at::Tensor& tensor, std::size_t root) {
  // Header: defined, dtype, rank of the shape, then up to 8 sizes.
  constexpr std::int64_t kMaxDims = 8;
  at::Tensor header = at::zeros({3 + kMaxDims}, at::kLong);
  if (communicator.rank() == root && tensor.defined()) {
    if (tensor.dim() > kMaxDims)
      throw Error(ErrorCode::kUnsupported, "broadcast_tensor: more than 8 dimensions");
    auto h = header.accessor<std::int64_t, 1>();
    h[0] = 1;
    h[1] = static_cast<std::int64_t>(tensor.scalar_type());
    h[2] = tensor.dim();
    for (std::int64_t d = 0; d < tensor.dim(); ++d) h[3 + d] = tensor.size(d);
  }
  communicator.broadcast(header, root);
  const auto h = header.accessor<std::int64_t, 1>();
  if (h[0] == 0) return {};
  std::vector<std::int64_t> sizes(h.data() + 3, h.data() + 3 + h[2]);
  at::Tensor data = communicator.rank() == root
                        ? tensor.contiguous().clone()
                        : at::empty(sizes, at::TensorOptions().dtype(static_cast<at::ScalarType>(h[1])));
  communicator.broadcast(data, root);
  return data;
}

}  // namespace modelslim
