#!/usr/bin/env bash
# README main job: installs dependencies, builds, quantizes the embedded demo model (data/demo-model, a small
# Llama trained on the King James Bible) to W8A8 with the project's own calibration set, then evaluates the saved
# artifact against the float model on held-out books. Output: ./out/demo-w8a8 (ascendv1 layout).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/install-deps.sh
./scripts/build.sh
./build/bin/modelslim quant --model_path data/demo-model --save_path out/demo-w8a8 --quant_type w8a8 "$@"
./build/bin/modelslim eval --model_path data/demo-model --quant_path out/demo-w8a8 \
  --dataset data/datasets/kjv_eval.jsonl --metrics ppl,acc,fidelity --max_tokens 128 --json out/demo-w8a8-eval.json
echo "quantized model: $root/out/demo-w8a8; evaluation: $root/out/demo-w8a8-eval.json"
