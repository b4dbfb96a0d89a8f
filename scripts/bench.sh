#!/usr/bin/env bash
# Builds the benchmark targets and runs them, each printing its measurements and the ratio against the
# reference it measures in the same run (bench/README.md). --7b adds the Llama-2-7B-shaped run (minutes,
# ~21 GB of free disk) and next to it benchmark (g), the Qwen3-30B-A3B-shaped MoE run (2 layers, ~7 GB of
# free disk); --moe runs benchmark (g) alone; --deepseek adds benchmark (h), DeepSeek-V3 at real width (1 dense
# + 2 MoE layers, a ~23 GB FP8 checkpoint: ~50 GB of free disk, checked first). Build dir: $MODELSLIM_BUILD_DIR
# (default ./build). Exit status 1 if any target missed.
#
#   scripts/bench.sh [--7b] [--moe] [--deepseek] [--work DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${MODELSLIM_BUILD_DIR:-build}
jobs=${MODELSLIM_JOBS:-$(nproc)}
run_7b=0
run_moe=0
run_deepseek=0
work=${TMPDIR:-/tmp}/modelslim-bench
while [ $# -gt 0 ]; do
  case "$1" in
    --7b) run_7b=1; run_moe=1 ;;
    --moe) run_moe=1 ;;
    --deepseek) run_deepseek=1 ;;
    --work) work=$2; shift ;;
    *) echo "usage: scripts/bench.sh [--7b] [--moe] [--deepseek] [--work DIR]" >&2; exit 2 ;;
  esac
  shift
done

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMODELSLIM_BUILD_TESTS=OFF || exit 1
fi
targets=(modelslim make_random_model modelslim_llama_adapter modelslim_linear_quant modelslim_ascendv1_saver
         quant_memory_bench calib_forward_bench weight_quant_bench llama7b_bench tune_reuse_bench
         modelslim_builtin_evaluator modelslim_iter_smooth modelslim_tuning_strategies decode_bench
         saver_write_bench plant_outliers modelslim_moe_adapter moe30b_bench)
if [ "$run_deepseek" = 1 ]; then
  # Benchmark (h) writes a ~23 GB checkpoint and a ~23 GB output: say so before building anything.
  mkdir -p "$work-deepseek"
  free_gb=$(df -BG --output=avail "$work-deepseek" | tail -1 | tr -dc '0-9')
  echo "== benchmark (h) needs ~50 GB of free disk; $work-deepseek has ${free_gb} GB"
  if [ "$free_gb" -lt 50 ]; then
    echo "not enough free disk for --deepseek; pass --work DIR on a larger filesystem" >&2
    exit 2
  fi
  targets+=(make_random_deepseek modelslim_deepseek_adapter deepseek_bench)
fi
cmake --build "$build" -j "$jobs" --target "${targets[@]}" || exit 1

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB"
status=0
run() {
  echo
  echo "== $*"
  "$build/bin/$@" || status=1
}
run weight_quant_bench
run calib_forward_bench --work "$work"
run quant_memory_bench --work "$work"
run tune_reuse_bench --work "$work"
run decode_bench --work "$work"
run saver_write_bench --work "$work/saver"
echo
echo "== modelslim serve: total tokens/s, 1 vs 8 concurrent clients"
scripts/serve-bench.sh "$build" || status=1
if [ "$run_7b" = 1 ]; then
  run llama7b_bench --work "$work-7b"
fi
if [ "$run_moe" = 1 ]; then
  run moe30b_bench --work "$work-moe" --baseline
fi
if [ "$run_deepseek" = 1 ]; then
  run deepseek_bench --work "$work-deepseek"
fi
echo
[ "$status" = 0 ] && echo "all targets met" || echo "some targets missed (see FAIL above)"
exit "$status"
