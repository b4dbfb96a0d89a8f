#!/usr/bin/env bash
# README test command: installs dependencies and test fixtures, builds everything but the benchmarks (bench.sh
# builds those), runs every test, then a short fuzzing pass.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/install-deps.sh
./scripts/fetch-test-fixtures.sh
# A fresh build dir gets line tables only (-g1): the same code, half the compile time (docs/performance.md);
# and a unity build: each target's files compiled in batches, LibTorch's headers parsed once per batch
# (docs/build-time.md).
MODELSLIM_CMAKE_ARGS="-DMODELSLIM_LINE_TABLES_ONLY=ON -DMODELSLIM_UNITY_BUILD=ON ${MODELSLIM_CMAKE_ARGS:-}" \
  ./scripts/build.sh
cd build
jobs=${MODELSLIM_TEST_JOBS:-2}
ctest --output-on-failure --timeout 1800 -j "$jobs"
# A short fuzzing pass over every parser (docs/fuzzing.md), as many targets at a time as ctest's jobs (each
# fuzzer is one single-threaded process); MODELSLIM_FUZZ_SECONDS=0 skips it.
if [ "${MODELSLIM_FUZZ_SECONDS:-20}" != 0 ]; then
  MODELSLIM_FUZZ_PARALLEL=${MODELSLIM_FUZZ_PARALLEL:-$jobs} MODELSLIM_FUZZ_JOBS=${MODELSLIM_FUZZ_JOBS:-$jobs} \
    "$root/scripts/fuzz.sh" "${MODELSLIM_FUZZ_SECONDS:-20}"
fi
