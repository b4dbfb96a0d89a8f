#include "modelslim/evaluation_reuse.hpp"

namespace modelslim {

// Out of line: the one place the class's vtable and type information live, so dynamic_cast finds the same
// type in the host and in every plugin.
EvaluationReuse::~EvaluationReuse() = default;

}  // namespace modelslim
