// The executable's sched_yield (apps/modelslim/spin_yield.hpp): linked into unit_tests the way it is into
// bin/modelslim, so these cases see what the shipped binary does.
#include <ATen/ATen.h>
#include <dlfcn.h>
#include <sched.h>

#include <chrono>
#include <thread>

#include "modelslim/core/env_names.hpp"
#include "spin_yield.hpp"
#include "support/doctest.hpp"

namespace {

void* c_library_sched_yield() {
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(libc != nullptr);
  void* symbol = dlsym(libc, "sched_yield");
  dlclose(libc);
  return symbol;
}

}  // namespace

#if defined(__x86_64__) && defined(__linux__)

TEST_CASE("spin yield: shared libraries resolve sched_yield to the executable's, not the C library's") {
  // What OpenBLAS's call finds: the first definition in the global scope. Without the exported symbol this
  // is the C library's.
  void* resolved = dlsym(RTLD_DEFAULT, "sched_yield");
  REQUIRE(resolved != nullptr);
  CHECK(resolved != c_library_sched_yield());
  CHECK(resolved == reinterpret_cast<void*>(&sched_yield));
}

TEST_CASE("spin yield: one call in 16 enters the kernel") {
  REQUIRE(modelslim::apps::spin_yield_active());  // the test environment leaves MODELSLIM_SPIN_YIELD unset
  const std::uint64_t before = modelslim::apps::kernel_yields_on_this_thread();
  for (int i = 0; i < 1600; ++i) sched_yield();
  CHECK(modelslim::apps::kernel_yields_on_this_thread() - before == 100);
}

TEST_CASE("spin yield: OpenBLAS's waiting threads call the executable's sched_yield") {
  if (std::thread::hardware_concurrency() < 2) {
    MESSAGE("one CPU: OpenBLAS runs no worker thread, so nothing waits");
    return;
  }
  const std::uint64_t before = modelslim::apps::kernel_yields();
  const at::Tensor a = at::randn({512, 512});
  for (int i = 0; i < 4; ++i) at::matmul(a, a);
  // OpenBLAS's worker spins in sched_yield for about 0.1 s after each product before it sleeps.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(modelslim::apps::kernel_yields() > before);
}

#endif

TEST_CASE("spin yield: MODELSLIM_SPIN_YIELD accepts 0 and 1 and names itself otherwise") {
  CHECK_FALSE(modelslim::apps::spin_yield_env_problem().has_value());
  const char* name = modelslim::core::env::kSpinYield;
  setenv(name, "0", 1);
  CHECK_FALSE(modelslim::apps::spin_yield_env_problem().has_value());
  setenv(name, "on", 1);
  const auto problem = modelslim::apps::spin_yield_env_problem();
  unsetenv(name);
  REQUIRE(problem.has_value());
  CHECK(problem->find(std::string(name) + "=on") != std::string::npos);
  CHECK(problem->find("expected 0") != std::string::npos);
}
