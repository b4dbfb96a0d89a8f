#include "modelslim/incremental_decoding.hpp"

namespace modelslim {

// Out of line so the type information lives in the SDK library once (dynamic_cast across plugins).
DecodingState::~DecodingState() = default;
IncrementalDecoding::~IncrementalDecoding() = default;

}  // namespace modelslim
