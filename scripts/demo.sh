#!/usr/bin/env bash
# README main job: installs dependencies, builds, and tunes the embedded hard demo model (data/demo-model-hard:
# a small Llama trained on the King James Bible, with outliers planted in three of its four blocks) to W8A8
# within 1% relative perplexity of float on held-out books (plan: data/tune/demo-standing-high.yaml). The
# tuned practice is saved to out/practices, so `quant --quant_type w8a8 --practice_repo out/practices` reuses it.
# Output: out/demo-tune (quant_model/, best_practice.yaml, report.html, history/). Rerunning resumes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/install-deps.sh
./scripts/build.sh
./build/bin/modelslim tune --model_path data/demo-model-hard --save_path out/demo-tune \
  --config data/tune/demo-standing-high.yaml --practice_repo out/practices "$@"
./build/bin/modelslim eval --model_path data/demo-model-hard --quant_path out/demo-tune/quant_model \
  --dataset data/datasets/kjv_eval.jsonl --metrics ppl,acc,fidelity --max_tokens 128 --json out/demo-tune-eval.json
echo "tuned model: $root/out/demo-tune/quant_model; report: $root/out/demo-tune/report.html;" \
  "evaluation: $root/out/demo-tune-eval.json"
