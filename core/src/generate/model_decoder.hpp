// How the generator runs tokens through a loaded model: append tokens, get their final hidden states.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "modelslim/block.hpp"
#include "modelslim/model_adapter.hpp"

namespace modelslim::core {

class ModelDecoder {
 public:
  virtual ~ModelDecoder() = default;
  // Forgets every token (a new generation).
  virtual void reset() = 0;
  // Appends `ids` after the tokens seen since reset(); returns their final hidden states [1, n, hidden].
  virtual at::Tensor append(const std::vector<std::int64_t>& ids) = 0;
};

// Full recompute: every call runs the whole sequence through every block (for adapters without
// incremental decoding).
std::unique_ptr<ModelDecoder> make_recompute_decoder(ModelAdapter& model, const std::vector<Block*>& blocks);
// The adapter's key/value-cache decoding when it has that capability (IncrementalDecoding) and accepts
// these blocks; full recompute otherwise (with a warning saying why when the adapter refused).
std::unique_ptr<ModelDecoder> make_model_decoder(ModelAdapter& model, const std::vector<Block*>& blocks);

}  // namespace modelslim::core
