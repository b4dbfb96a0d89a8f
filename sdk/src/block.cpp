#include "modelslim/block.hpp"

namespace modelslim {

ForwardContext::~ForwardContext() = default;
Block::~Block() = default;

Linear* Block::find_linear(const std::string& full_name) {
  for (Linear* linear : linears()) {
    if (linear->name() == full_name) return linear;
  }
  return nullptr;
}

}  // namespace modelslim
