// An optional capability of model adapters (since ABI 4.1): decoding token by token with a key/value cache,
// so a generated token costs the same at every position (besides attention's term linear in the length).
// An adapter class that also derives from IncrementalDecoding is found by dynamic_cast; hosts recompute
// the whole sequence per token for adapters that do not (the ModelAdapter interface is unchanged).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace modelslim {

class Block;

// One sequence being decoded: every block's keys and values for the tokens seen so far.
class DecodingState {
 public:
  virtual ~DecodingState();
  // Runs `input_ids` (int64 [1, n], n >= 1) at the positions after the tokens already seen (the first call
  // is the prompt's prefill), appending each block's keys and values. Returns the last block's output
  // [1, n, hidden]; the adapter's head() turns it into logits.
  virtual at::Tensor forward(const at::Tensor& input_ids) = 0;
  virtual std::int64_t length() const = 0;  // tokens seen so far
};

class IncrementalDecoding {
 public:
  virtual ~IncrementalDecoding();
  // A fresh state over `blocks`: this adapter's load_block(0 .. num_blocks()-1), in order, kept alive by the
  // caller, which may have replaced their linears' compute (deployed arithmetic). Throws Error(kUnsupported)
  // saying why when this model cannot decode incrementally; the caller then recomputes instead.
  virtual std::unique_ptr<DecodingState> start_decoding(const std::vector<Block*>& blocks) = 0;
};

}  // namespace modelslim
