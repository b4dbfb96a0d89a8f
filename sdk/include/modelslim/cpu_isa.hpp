// Run-time CPU dispatch for the SDK's vectorised kernels (today: weight quantization's range and quantize
// passes). The library is built for the x86-64 baseline; wider code paths are compiled per function and
// chosen when the running CPU (and OS) supports them, so one binary runs anywhere. Every level computes
// bit-identical results.
//
// MODELSLIM_CPU_ISA=scalar|avx2|avx512 caps the level (tests force each one; a cap above what the CPU
// supports gives the best supported level). Unset or empty: the best supported level.
#pragma once

#include "modelslim/export.hpp"

namespace modelslim {

enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The widest level this CPU and OS support (x86-64: AVX-512F, AVX2, else scalar; scalar elsewhere).
MODELSLIM_SDK_API CpuIsa supported_cpu_isa();
// supported_cpu_isa() capped by MODELSLIM_CPU_ISA, read on every call; throws modelslim::Error on a value
// that names no level.
MODELSLIM_SDK_API CpuIsa active_cpu_isa();
// "scalar", "avx2", "avx512".
MODELSLIM_SDK_API const char* cpu_isa_name(CpuIsa isa);

}  // namespace modelslim
