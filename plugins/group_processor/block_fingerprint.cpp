#include "block_fingerprint.hpp"

#include <algorithm>

namespace modelslim::group {

BlockFingerprint::BlockFingerprint(Block& block) {
  for (Linear* linear : block.linears()) {
    add(linear->name() + ".weight", linear->weight());
    add(linear->name() + ".bias", linear->bias() ? *linear->bias() : at::Tensor());
  }
  for (const NamedTensor& parameter : block.other_parameters()) add(parameter.name, parameter.tensor);
}

void BlockFingerprint::add(std::string name, const at::Tensor& tensor) {
  entries_.push_back({std::move(name), tensor, tensor.defined() ? tensor._version() : 0});
}

std::string BlockFingerprint::first_difference(const BlockFingerprint& other) const {
  const std::size_t common = std::min(entries_.size(), other.entries_.size());
  for (std::size_t i = 0; i < common; ++i) {
    if (!(entries_[i] == other.entries_[i])) return entries_[i].name;
  }
  if (entries_.size() != other.entries_.size()) {
    const auto& longer = entries_.size() > other.entries_.size() ? entries_ : other.entries_;
    return longer[common].name;
  }
  return "";
}

}  // namespace modelslim::group
