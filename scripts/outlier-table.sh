#!/usr/bin/env bash
# Measures the tables of docs/outlier-suppression.md ("Measured on the hard demo model, saved and evaluated" and
# "Measured on the MoE demo model"): every practice below is quantized by `modelslim quant` on the model
# (default data/demo-model-hard; 16 calibration passages of kjv_calib.jsonl) and its SAVED ascendv1 model
# (`engine: none`: vllm-ascend serves no dense W4A16) evaluated by `modelslim eval` (held-out kjv_eval.jsonl,
# perplexity, 128 tokens, the first $EVAL_SAMPLES passages: default 16 of 48).
# Usage: [EVAL_SAMPLES=N] [ROWS="1 2"] scripts/outlier-table.sh [--model DIR] [OUT_DIR]
# (default out/outlier-table, out/outlier-table-<model dir name> with --model). A mixture-of-experts model
# (config.json with num_experts or num_local_experts) gets the reference's MoE W8A8 layout: routed experts and
# shared expert W8A8 dynamic (per-token activations), attention static W8A8, the routers float (lab_practice
# qwen3_moe/qwen3-30b-a3b-w8a8.yaml as `modelslim quant --print_v1` translates it); weight-only rows keep the
# routers float too; extra rows (18+) quantize every linear but the routers static per-tensor.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MODELSLIM_BIN:-$root/build/bin/modelslim}
model=$root/data/demo-model-hard
out=$root/out/outlier-table
while [[ $# -gt 0 ]]; do
  case $1 in
    --model) model=$(cd "$2" && pwd); out=$root/out/outlier-table-$(basename "$model"); shift 2 ;;
    *) out=$1; shift ;;
  esac
done
samples=${EVAL_SAMPLES:-16}
only=${ROWS:-}  # e.g. ROWS="8 9" measures those rows only
mkdir -p "$out"
head -n 16 "$root/data/datasets/kjv_calib.jsonl" > "$out/calib.jsonl"

static='{scope: per_tensor, dtype: int8, symmetric: false, method: minmax}'
dynamic='{scope: per_token, dtype: int8, symmetric: true, method: minmax}'
w8='{scope: per_channel, dtype: int8, symmetric: true, method: minmax}'
w4='{scope: per_group, dtype: int4, symmetric: false, method: minmax, ext: {group_size: 64}}'
w8a8="{type: linear_quant, qconfig: {act: $static, weight: $w8}}"
w8a8_name=W8A8 w8a8c8_name=W8A8C8
keep=''  # what every linear_quant leaves float besides lm_head
moe=false
if grep -qE '"(num_experts|num_local_experts|n_routed_experts)"' "$model/config.json"; then
  moe=true
  mlp='"*.mlp.*"' router='"*mlp.gate"'  # Qwen-MoE and DeepSeek names; Mixtral's below
  grep -q '"shared_expert_intermediate_size"' "$model/config.json" && router+=', "*shared_expert_gate"'
  grep -q '"mixtral"' "$model/config.json" && mlp='"*.block_sparse_moe.*"' router='"*block_sparse_moe.gate"'
  keep=", exclude: [$router]"
  w8a8="{type: group, configs: [{type: linear_quant, qconfig: {act: $dynamic, weight: $w8}, include: [$mlp]$keep}, {type: linear_quant, qconfig: {act: $static, weight: $w8}, include: [\"*\"], exclude: [$mlp]}]}"
  w8a8_name="W8A8 (MLP dynamic)" w8a8c8_name="W8A8C8 (MLP dynamic)"
fi
w8a16="{type: linear_quant, qconfig: {weight: $w8}$keep}"
w4a16="{type: linear_quant, qconfig: {weight: $w4}$keep}"
# int8 KV cache (the reference's C8): per-channel symmetric K/V scales, run by eval in the saved model's attention
c8='{type: dynamic_cache, qconfig: {scope: per_channel, dtype: int8, symmetric: true, method: minmax}}'
rows=(
  "$w8a8_name|none|$w8a8"
  "$w8a8_name|smooth_quant α 0.5|{type: smooth_quant, alpha: 0.5}, $w8a8"
  "$w8a8_name|iter_smooth α 0.5|{type: iter_smooth, alpha: 0.5}, $w8a8"
  "$w8a8_name|flex_smooth_quant (searched)|{type: flex_smooth_quant}, $w8a8"
  "$w8a8_name|quarot + iter_smooth α 0.5|{type: quarot}, {type: iter_smooth, alpha: 0.5}, $w8a8"
  "W8A16|none|$w8a16"
  "W8A16|awq|{type: awq, weight_qconfig: $w8}, $w8a16"
  "W4A16 (g64, asym)|none|$w4a16"
  "W4A16 (g64, asym)|awq|{type: awq, weight_qconfig: $w4}, $w4a16"
  "$w8a8c8_name|none|$w8a8, $c8"
  "$w8a8c8_name|iter_smooth α 0.5|{type: iter_smooth, alpha: 0.5}, $w8a8, $c8"
  "float linears, C8 (int8 KV cache only)|none|$c8"
  "$w8a8c8_name|iter_smooth α 0.5 + kv_smooth|{type: iter_smooth, alpha: 0.5}, {type: kv_smooth}, $w8a8, $c8"
  "$w8a8_name|cbq (v0 m5)|{type: cbq}, $w8a8"
  "float linears + FA3|fa3_quant (int8 per-head Q/K/V)|{type: fa3_quant}"
  "float linears + FA3|fa3_quant per_token|{type: fa3_quant, qconfig: {dtype: int8, scope: per_token, symmetric: true, method: minmax}}"
  "$w8a8_name + FA3|iter_smooth α 0.5, fa3_quant|{type: iter_smooth, alpha: 0.5}, {type: fa3_quant}, $w8a8"
)
if $moe; then
  all_static="{type: linear_quant, qconfig: {act: $static, weight: $w8}$keep}"
  rows+=(
    "W8A8 static (every linear but the routers)|none|$all_static"
    "W8A8 static (every linear but the routers)|smooth_quant α 0.5|{type: smooth_quant, alpha: 0.5}, $all_static"
    "W8A8 static (every linear but the routers)|iter_smooth α 0.5|{type: iter_smooth, alpha: 0.5}, $all_static"
    "W8A8 static (every linear but the routers)|flex_smooth_quant (searched)|{type: flex_smooth_quant}, $all_static"
    "W8A8 static (every linear but the routers)|quarot + iter_smooth α 0.5|{type: quarot}, {type: iter_smooth, alpha: 0.5}, $all_static"
  )
fi

printf '| scheme | outlier suppression | perplexity | vs float |\n|---|---|---|---|\n'
i=0
for row in "${rows[@]}"; do
  IFS='|' read -r scheme method process <<< "$row"
  i=$((i + 1))
  if [[ -n $only && " $only " != *" $i "* ]]; then continue; fi
  practice=$out/p$i.yaml
  printf 'apiversion: modelslim_v1\nspec:\n  process: [%s]\n  save: [{type: ascendv1_saver, engine: none}]\n  dataset: %s\n' \
    "$process" "$out/calib.jsonl" > "$practice"
  if ! "$bin" quant --model_path "$model" --save_path "$out/m$i" --config_path "$practice" > "$out/quant$i.log" 2>&1; then
    # A refusal is a result: the row quotes the error modelslim printed.
    printf '| %s | %s | refused: %s | |\n' "$scheme" "$method" "$(grep -m1 -iE 'error' "$out/quant$i.log" | tr '|' '/')"
    continue
  fi
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
