// Key function of the Saver interface (see modelslim/export.hpp).
#include "modelslim/saver.hpp"

namespace modelslim {

Saver::~Saver() = default;

}  // namespace modelslim
