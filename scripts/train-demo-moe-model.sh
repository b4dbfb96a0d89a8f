#!/usr/bin/env bash
# Re-trains the embedded MoE demo model (data/demo-moe-model, a Hugging Face qwen3_moe checkpoint: 4 layers,
# 8 experts, top-2) from the King James Bible (Debian bible-kjv), with the same held-out books as
# data/demo-model, and records its provenance. Deterministic for a given machine and LibTorch build; about
# 23 minutes on one thread of a busy 2-core machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/build.sh --target train_demo_model
corpus=$(mktemp)
trap 'rm -f "$corpus"' EXIT
(cd /usr/lib && bible -f "Gen1:1-Rev22:21") > "$corpus"
sha=$(sha256sum "$corpus" | cut -d' ' -f1)
# One thread: the same reduction order on any machine, and no idle spinning on a shared, busy CPU.
export OMP_NUM_THREADS=1
args=(--corpus "$corpus" --output data/demo-moe-model --steps 400 --seed 1234 --hidden 128 --layers 4 --heads 4
      --kv-heads 2 --experts 8 --top-k 2 --moe-intermediate 128 --aux-coef 0.001 --seq 128 --batch 16 --lr 3e-3
      --holdout Prv,Lam,2Tim)
./build/bin/train_demo_model "${args[@]}"
python3 - "$sha" "${args[*]}" <<'PY'
import json, sys
log = json.load(open("data/demo-moe-model/train_log.json"))
json.dump({"corpus": "bible -f Gen1:1-Rev22:21 (Debian bible-kjv, King James Version, public domain)",
           "corpus_sha256": sys.argv[1],
           "command": "OMP_NUM_THREADS=1 build/bin/train_demo_model " + sys.argv[2].replace(sys.argv[2].split()[1], "<corpus>", 1),
           "held_out_books": log["holdout_books"], "steps": log["steps"],
           "final_smoothed_train_loss": log["final_smoothed_loss"],
           "final_load_balancing_loss": log["log"][-1]["load_balancing_loss"],
           "training_seconds_1_thread_on_2_shared_cores": log["training_seconds"]},
          open("data/demo-moe-model/provenance.json", "w"), indent=2)
PY
echo "provenance: data/demo-moe-model/provenance.json"
