// The parameters outside the blocks (embedding, final norm, lm_head) as the in-tree savers write them, and
// the same as specs for the shard-layout guess a saver makes when the run begins, from the adapter's
// headers (modelslim/parameter_specs.hpp) so the tensors are read once, by finish().
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/streaming_shard_writer.hpp"

namespace modelslim::saver_rules {

// Each parameter in `dtype` (the checkpoint's float dtype), contiguous, in order; with `tied_head`, an
// lm_head.weight repeating model.embed_tokens.weight when the parameters hold no lm_head of their own.
std::vector<NamedTensor> saved_tail(const std::vector<NamedTensor>& parameters, at::ScalarType dtype,
                                    bool tied_head);
// The specs saved_tail() gives for parameters with these specs.
std::vector<TensorSpec> saved_tail_specs(const std::vector<TensorSpec>& parameters, at::ScalarType dtype,
                                         bool tied_head);

}  // namespace modelslim::saver_rules
