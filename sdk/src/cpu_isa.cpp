#include "modelslim/cpu_isa.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "modelslim/env_names.hpp"
#include "modelslim/error.hpp"

namespace modelslim {
namespace {
constexpr const char* kCpuIsaEnv = env::kCpuIsa;

CpuIsa detect() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  // libgcc's checks include the OS enabling the wider register state (XGETBV), not just CPUID bits.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return CpuIsa::kAvx512;
  if (__builtin_cpu_supports("avx2")) return CpuIsa::kAvx2;
#endif
  return CpuIsa::kScalar;
}
}  // namespace

CpuIsa supported_cpu_isa() {
  static const CpuIsa isa = detect();
  return isa;
}

CpuIsa active_cpu_isa() {
  const char* value = std::getenv(kCpuIsaEnv);
  if (value == nullptr || *value == '\0') return supported_cpu_isa();
  const std::string name = value;
  for (const CpuIsa cap : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (name == cpu_isa_name(cap)) return std::min(cap, supported_cpu_isa());
  }
  throw Error(ErrorCode::kSchemaValidate,
              std::string(kCpuIsaEnv) + "=" + name + " names no CPU level; expected scalar, avx2 or avx512",
              std::string("unset ") + kCpuIsaEnv + " to use the best level this CPU supports");
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kAvx512:
      return "avx512";
    case CpuIsa::kAvx2:
      return "avx2";
    case CpuIsa::kScalar:
      break;
  }
  return "scalar";
}

}  // namespace modelslim
