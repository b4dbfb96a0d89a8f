#!/usr/bin/env bash
# Re-trains the embedded demo model (data/demo-model) from the King James Bible (Debian bible-kjv) and records
# its provenance. Deterministic for a given machine and LibTorch build; takes about 15 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/build.sh --target train_demo_model
corpus=$(mktemp)
trap 'rm -f "$corpus"' EXIT
(cd /usr/lib && bible -f "Gen1:1-Rev22:21") > "$corpus"
sha=$(sha256sum "$corpus" | cut -d' ' -f1)
args=(--corpus "$corpus" --output data/demo-model --steps 1500 --seed 1234 --hidden 192 --layers 4 --heads 6
      --kv-heads 2 --intermediate 512 --seq 128 --batch 16 --lr 3e-3 --holdout Prv,Lam,2Tim)
./build/bin/train_demo_model "${args[@]}"
python3 - "$sha" "${args[*]}" <<'PY'
import json, sys
log = json.load(open("data/demo-model/train_log.json"))
json.dump({"corpus": "bible -f Gen1:1-Rev22:21 (Debian bible-kjv, King James Version, public domain)",
           "corpus_sha256": sys.argv[1],
           "command": "build/bin/train_demo_model " + sys.argv[2].replace(sys.argv[2].split()[1], "<corpus>", 1),
           "held_out_books": log["holdout_books"], "steps": log["steps"],
           "final_smoothed_train_loss": log["final_smoothed_loss"]},
          open("data/demo-model/provenance.json", "w"), indent=2)
PY
echo "provenance: data/demo-model/provenance.json"
