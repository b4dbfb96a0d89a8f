#!/usr/bin/env bash
# `modelslim serve` throughput (issue 12, benchmark (i) second half): total completion tokens/s with 1 and 8
# concurrent node clients against one server on the demo model. Requests queue (one generation at a time), so
# the two numbers should be close: the second shows what queueing costs. Called by scripts/bench.sh.
#   scripts/serve-bench.sh BUILD_DIR [MODEL_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
model=${2:-$root/data/demo-model}
log=$(mktemp)
"$build/bin/modelslim" serve --model_path "$model" --port 0 --max_queue 16 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
url=""
for _ in $(seq 600); do
  url=$(grep -o 'http://[0-9.]*:[0-9]*' "$log" | head -n1)
  [ -n "$url" ] && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "serve did not start"; cat "$log"; exit 1; }
echo "model $model, 64 tokens per request, greedy"
node "$root/bench/serve_clients.mjs" "$url" 1 8 64 || exit 1
node "$root/bench/serve_clients.mjs" "$url" 8 2 64 || exit 1
