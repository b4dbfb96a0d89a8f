#include "spin_yield.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "modelslim/core/env_names.hpp"

#if defined(__x86_64__) && defined(__linux__)
#include <x86intrin.h>
#define MODELSLIM_REPLACES_SCHED_YIELD 1
#endif

namespace modelslim::apps {
namespace {

// One real yield in this many calls: OpenBLAS's loops re-check their flag after each call, so the pause keeps
// the wake-up latency at a microsecond while the real yields bound how long a waiting thread holds its core.
constexpr unsigned kKernelEvery = 16;
// About a microsecond at the 2-4 GHz time-stamp counters of current x86-64 CPUs.
constexpr unsigned long long kSpinTicks = 2048;

std::atomic<std::uint64_t> total_kernel_yields{0};
thread_local std::uint64_t thread_calls = 0;
thread_local std::uint64_t thread_kernel_yields = 0;

bool read_spin_switch() {
  const char* value = std::getenv(core::env::kSpinYield);
  return value == nullptr || std::strcmp(value, "0") != 0;
}

int kernel_yield() {
  ++thread_kernel_yields;
  total_kernel_yields.fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(syscall(SYS_sched_yield));
}

}  // namespace

std::uint64_t kernel_yields_on_this_thread() {
  return thread_kernel_yields;
}

std::uint64_t kernel_yields() {
  return total_kernel_yields.load(std::memory_order_relaxed);
}

bool spin_yield_active() {
#ifdef MODELSLIM_REPLACES_SCHED_YIELD
  static const bool active = read_spin_switch();
  return active;
#else
  return false;
#endif
}

std::optional<std::string> spin_yield_env_problem() {
  const char* value = std::getenv(core::env::kSpinYield);
  if (value == nullptr || std::strcmp(value, "0") == 0 || std::strcmp(value, "1") == 0) return std::nullopt;
  return std::string(core::env::kSpinYield) + "=" + value +
         " is not a switch; expected 0 (every sched_yield a system call) or 1 (the default: spin briefly)";
}

}  // namespace modelslim::apps

#ifdef MODELSLIM_REPLACES_SCHED_YIELD
// Replaces the C library's sched_yield for the whole process (the link exports it; spin_yield.hpp says why).
// POSIX lets sched_yield return at once, so every caller stays correct.
extern "C" int sched_yield() noexcept {
  using namespace modelslim::apps;
  if (!spin_yield_active() || ++thread_calls % kKernelEvery == 0) return kernel_yield();
  const unsigned long long start = __rdtsc();
  do {
    _mm_pause();
  } while (__rdtsc() - start < kSpinTicks);
  return 0;
}
#endif
