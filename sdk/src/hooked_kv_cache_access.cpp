#include "modelslim/hooked_kv_cache_access.hpp"

namespace modelslim {

// Out of line: the vtable and typeinfo live in the SDK library (export.hpp).
HookedKvCacheAccess::~HookedKvCacheAccess() = default;

}  // namespace modelslim
