#!/usr/bin/env bash
# README test command: installs dependencies and test fixtures, builds everything, runs every test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/install-deps.sh
./scripts/fetch-test-fixtures.sh
./scripts/build.sh
cd build
ctest --output-on-failure --timeout 1800 -j "${MODELSLIM_TEST_JOBS:-2}"
# A short fuzzing pass over every parser (docs/fuzzing.md); MODELSLIM_FUZZ_SECONDS=0 skips it.
if [ "${MODELSLIM_FUZZ_SECONDS:-20}" != 0 ]; then
  "$root/scripts/fuzz.sh" "${MODELSLIM_FUZZ_SECONDS:-20}"
fi
