// Which tensors a block holds and whether any was written: the identity (TensorImpl) and the in-place
// version counter of every linear weight and bias and every other parameter (norm weights and biases).
// Equal fingerprints mean no processor replaced, created or modified a tensor of the block in between.
// The fingerprint keeps a reference to each tensor, so a replaced tensor's address cannot be reused by
// its replacement's replacement (which would make a change look like none).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelslim/block.hpp"

namespace modelslim::group {

class BlockFingerprint {
 public:
  explicit BlockFingerprint(Block& block);

  bool operator==(const BlockFingerprint& other) const { return entries_ == other.entries_; }
  bool operator!=(const BlockFingerprint& other) const { return !(*this == other); }
  // The first tensor that differs (for messages), or "" when equal.
  std::string first_difference(const BlockFingerprint& other) const;

 private:
  struct Entry {
    std::string name;
    at::Tensor tensor;  // undefined when the slot is empty (a linear without bias)
    std::int64_t version = 0;
    bool operator==(const Entry& other) const {
      return name == other.name && tensor.is_same(other.tensor) && version == other.version;
    }
  };
  void add(std::string name, const at::Tensor& tensor);

  std::vector<Entry> entries_;
};

}  // namespace modelslim::group
