#include "modelslim/evaluation_context.hpp"

namespace modelslim {

// Out of line: the one place the class's vtable and type information live, so dynamic_cast finds the same
// type in the host and in every plugin.
EvaluationContextSink::~EvaluationContextSink() = default;

}  // namespace modelslim
