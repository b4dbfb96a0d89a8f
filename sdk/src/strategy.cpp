// Key functions of the tuning interfaces and of TuningStopped, which the host throws through strategies
// (see modelslim/export.hpp).
#include "modelslim/strategy.hpp"

namespace modelslim {

TuningStopped::~TuningStopped() = default;
TuningSession::~TuningSession() = default;
Strategy::~Strategy() = default;

}  // namespace modelslim
