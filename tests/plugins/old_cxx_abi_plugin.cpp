// A plugin compiled with -D_GLIBCXX_USE_CXX11_ABI=0 (the pre-GCC 5 std::string): its handshake records the
// marker, and the host, built with the C++11 ABI, must refuse it naming both values. It passes no std::
// object across the boundary, so it would load without the check: the refusal comes from the marker alone.
#include "modelslim/plugin.hpp"

static_assert(_GLIBCXX_USE_CXX11_ABI == 0,
              "this test plugin must be compiled with -D_GLIBCXX_USE_CXX11_ABI=0");

namespace {
void register_nothing(modelslim::Registrar&) {}
}  // namespace

MODELSLIM_PLUGIN("old_cxx_abi", "1.0.0", register_nothing)
