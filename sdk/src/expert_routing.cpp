#include "modelslim/expert_routing.hpp"

#include "modelslim/block.hpp"

namespace modelslim {

// Out of line so the type information lives in the SDK library once (dynamic_cast across plugins).
ExpertRouting::~ExpertRouting() = default;

ExpertRouting* expert_routing(Block& block) {
  return dynamic_cast<ExpertRouting*>(&block);
}

}  // namespace modelslim
