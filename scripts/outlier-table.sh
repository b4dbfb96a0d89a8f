#!/usr/bin/env bash
# Measures the table of docs/outlier-suppression.md ("Measured on the hard demo model, saved and evaluated"):
# every practice below is quantized by `modelslim quant` on data/demo-model-hard (16 calibration passages of
# kjv_calib.jsonl) and its SAVED ascendv1 model (`engine: none`: vllm-ascend serves no dense W4A16) evaluated
# by `modelslim eval` (held-out kjv_eval.jsonl, perplexity, 128 tokens, the first $EVAL_SAMPLES passages:
# default 16 of 48). Usage: [EVAL_SAMPLES=N] [ROWS="1 2"] scripts/outlier-table.sh [OUT_DIR]
# (default out/outlier-table)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MODELSLIM_BIN:-$root/build/bin/modelslim}
out=${1:-$root/out/outlier-table}
samples=${EVAL_SAMPLES:-16}
only=${ROWS:-}  # e.g. ROWS="8 9" measures those rows only
model=$root/data/demo-model-hard
mkdir -p "$out"
head -n 16 "$root/data/datasets/kjv_calib.jsonl" > "$out/calib.jsonl"

w8a8='{type: linear_quant, qconfig: {act: {scope: per_tensor, dtype: int8, symmetric: false, method: minmax}, weight: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}}}'
w8='{scope: per_channel, dtype: int8, symmetric: true, method: minmax}'
w4='{scope: per_group, dtype: int4, symmetric: false, method: minmax, ext: {group_size: 64}}'
# int8 KV cache (the reference's C8): per-channel symmetric K/V scales, run by eval in the saved model's attention
c8='{type: dynamic_cache, qconfig: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}}'
rows=(
  "W8A8|none|$w8a8"
  "W8A8|smooth_quant α 0.5|{type: smooth_quant, alpha: 0.5}, $w8a8"
  "W8A8|iter_smooth α 0.5|{type: iter_smooth, alpha: 0.5}, $w8a8"
  "W8A8|flex_smooth_quant (searched)|{type: flex_smooth_quant}, $w8a8"
  "W8A8|quarot + iter_smooth α 0.5|{type: quarot}, {type: iter_smooth, alpha: 0.5}, $w8a8"
  "W8A16|none|{type: linear_quant, qconfig: {weight: $w8}}"
  "W8A16|awq|{type: awq, weight_qconfig: $w8}, {type: linear_quant, qconfig: {weight: $w8}}"
  "W4A16 (g64, asym)|none|{type: linear_quant, qconfig: {weight: $w4}}"
  "W4A16 (g64, asym)|awq|{type: awq, weight_qconfig: $w4}, {type: linear_quant, qconfig: {weight: $w4}}"
  "W8A8C8|none|$w8a8, $c8"
  "W8A8C8|iter_smooth α 0.5|{type: iter_smooth, alpha: 0.5}, $w8a8, $c8"
  "float linears, C8 (int8 KV cache only)|none|$c8"
  "W8A8C8|iter_smooth α 0.5 + kv_smooth|{type: iter_smooth, alpha: 0.5}, {type: kv_smooth}, $w8a8, $c8"
  "W8A8|cbq (v0 m5)|{type: cbq}, $w8a8"
  "float linears + FA3|fa3_quant (int8 per-head Q/K/V)|{type: fa3_quant}"
  "float linears + FA3|fa3_quant per_token|{type: fa3_quant, qconfig: {dtype: int8, scope: per_token, symmetric: true, method: minmax}}"
  "W8A8 + FA3|iter_smooth α 0.5, fa3_quant|{type: iter_smooth, alpha: 0.5}, {type: fa3_quant}, $w8a8"
)

printf '| scheme | outlier suppression | perplexity | vs float |\n|---|---|---|---|\n'
i=0
for row in "${rows[@]}"; do
  IFS='|' read -r scheme method process <<< "$row"
  i=$((i + 1))
  if [[ -n $only && " $only " != *" $i "* ]]; then continue; fi
  practice=$out/p$i.yaml
  printf 'apiversion: modelslim_v1\nspec:\n  process: [%s]\n  save: [{type: ascendv1_saver, engine: none}]\n  dataset: %s\n' \
    "$process" "$out/calib.jsonl" > "$practice"
  "$bin" quant --model_path "$model" --save_path "$out/m$i" --config_path "$practice" > "$out/quant$i.log" 2>&1
  "$bin" eval --model_path "$model" --quant_path "$out/m$i" --dataset "$root/data/datasets/kjv_eval.jsonl" \
    --metrics ppl --max_tokens 128 --max_samples "$samples" --json "$out/eval$i.json" > "$out/eval$i.log" 2>&1
  python3 - "$out/eval$i.json" "$scheme" "$method" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
ppl = {side: next(m["value"] for m in data[side] if m["metric"] == "ppl") for side in ("float", "quantized")}
print(f"| {sys.argv[2]} | {sys.argv[3]} | {ppl['quantized']:.4f} | {100 * (ppl['quantized'] / ppl['float'] - 1):+.2f}% "
      f"(float {ppl['float']:.4f}) |")
PY
done
