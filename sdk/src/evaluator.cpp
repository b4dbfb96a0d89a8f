// Key function of the Evaluator interface (see modelslim/export.hpp).
#include "modelslim/evaluator.hpp"

namespace modelslim {

Evaluator::~Evaluator() = default;

}  // namespace modelslim
