#include "modelslim/version.hpp"

#include <torch/csrc/api/include/torch/version.h>

namespace modelslim {
const char* host_torch_version() {
  return TORCH_VERSION;
}
}  // namespace modelslim
