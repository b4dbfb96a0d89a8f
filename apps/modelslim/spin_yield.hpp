// This process's sched_yield. OpenBLAS before 0.3.27 (Debian bookworm ships 0.3.21) waits for its threads by
// calling sched_yield in a loop: millions of system calls per quantization, a quarter of the wall time spent
// in the kernel doing nothing (docs/performance.md, issue 17). OpenBLAS 0.3.27 stopped calling it on x86-64
// Linux (upstream pull request 4549). The executable defines sched_yield itself, exported so that the
// libraries' calls land here: about a microsecond of `pause` in user space, and every 16th call of a thread a
// real yield, so that a waiting thread still gives its core to the prefetch and writer threads.
// MODELSLIM_SPIN_YIELD=0 makes every call the system call again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace modelslim::apps {

// How many of the calling thread's sched_yield calls entered the kernel.
std::uint64_t kernel_yields_on_this_thread();
// How many sched_yield calls entered the kernel, all threads together.
std::uint64_t kernel_yields();
// True when this build replaces sched_yield (x86-64 Linux) and MODELSLIM_SPIN_YIELD is not 0.
bool spin_yield_active();
// The error to print when MODELSLIM_SPIN_YIELD holds anything but 0 or 1; nothing when it is fine or unset.
std::optional<std::string> spin_yield_env_problem();

}  // namespace modelslim::apps
