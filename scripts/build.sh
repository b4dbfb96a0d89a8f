#!/usr/bin/env bash
# Configures and builds modelslim into ./build (Ninja, ccache when present). Extra args go to cmake --build;
# MODELSLIM_CMAKE_ARGS (space-separated) go to the configure step, which runs only for a fresh build dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=${MODELSLIM_JOBS:-$(nproc)}
if [ ! -f build/CMakeCache.txt ]; then
  # shellcheck disable=SC2086  # word splitting intended
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${MODELSLIM_CMAKE_ARGS:-}
fi
cmake --build build -j "$jobs" "$@"
