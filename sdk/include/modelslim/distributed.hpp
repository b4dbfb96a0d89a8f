// Data-parallel calibration (the dp_layer_wise runner): every rank runs the same blocks on its shard of the
// calibration samples, and processors that support it combine their statistics through this interface so
// that every rank computes the same scales. The host implements it on LibTorch c10d (Gloo on CPU).
//
// Collectives pair up by call order: every rank must make the same calls in the same order, even a rank
// whose shard never reached a layer (contribute the identity of the reduction: -inf for MAX, +inf for MIN).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>

#include "modelslim/export.hpp"

namespace modelslim {

enum class ReduceOp { kSum, kMin, kMax };

class MODELSLIM_SDK_API Communicator {
 public:
  virtual ~Communicator();  // key function, defined in sdk/src (see export.hpp)
  virtual std::size_t rank() const = 0;
  virtual std::size_t world_size() const = 0;
  // In place; afterwards every rank holds the same result. Throws Error naming the rank when another rank
  // died or timed out.
  virtual void all_reduce(at::Tensor& tensor, ReduceOp op) = 0;
  // In place: every rank's `tensor` (already of the root's shape and dtype) becomes the root's.
  virtual void broadcast(at::Tensor& tensor, std::size_t root) = 0;
  virtual void barrier() = 0;
};

// Sends `tensor` (meaningful on `root` only; may be undefined there) to every rank, shape and dtype
// included: what data-free work split across ranks needs to share its results.
MODELSLIM_SDK_API at::Tensor broadcast_tensor(Communicator& communicator, const at::Tensor& tensor,
                                              std::size_t root);

}  // namespace modelslim
