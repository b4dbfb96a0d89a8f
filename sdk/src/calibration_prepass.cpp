#include "modelslim/calibration_prepass.hpp"

namespace modelslim {

// Out of line: the key function, so the type's RTTI lives in the SDK library and the host's dynamic_cast
// recognises a plugin's implementation.
CalibrationPrepass::~CalibrationPrepass() = default;

}  // namespace modelslim
