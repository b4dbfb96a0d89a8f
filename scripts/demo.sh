#!/usr/bin/env bash
# README main job: installs dependencies, builds, then quantizes the embedded default model to W8A8 with the
# project's own KJV calibration set. Output: ./out/demo-w8a8 (ascendv1 layout).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/install-deps.sh
./scripts/build.sh
model=out/demo-model
if [ ! -f "$model/config.json" ]; then
  ./build/bin/make_random_model --config data/demo/config.json --output "$model" --byte-tokenizer --seed 1234
fi
./build/bin/modelslim quant --model_path "$model" --save_path out/demo-w8a8 --quant_type w8a8 "$@"
echo "quantized model written to $root/out/demo-w8a8:"
ls -l out/demo-w8a8
