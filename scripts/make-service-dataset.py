#!/usr/bin/env python3
"""Builds data/datasets/kjv_complete.jsonl: complete the next word of a held-out KJV verse.

The demo models never saw the held-out books (Prv, Lam, 2Tim). A sample is the start of one of their verses
where the last three words are, in the books the models were trained on, followed by one word at least 80% of
the time over at least 5 occurrences, and that word is the verse's real next word ("... the LORD spake unto"
→ "Moses"). Chosen from corpus counts only, never from a model's output, so the task measures what a model
learned of KJV phrasing. Deterministic. Usage: scripts/make-service-dataset.py [output_dir] (needs bible-kjv).
"""
import collections
import json
import os
import subprocess
import sys

HELD_OUT_BOOKS = ("Prv", "Lam", "2Tim")
CONTEXT = 3
MIN_COUNT = 5
MIN_SHARE = 0.8
MAX_PROMPT = 90  # characters: the demo models read 128 bytes
SAMPLES = 40


def verses():
    output = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], cwd="/usr/lib", check=True, capture_output=True,
                            text=True).stdout
    for line in output.splitlines():
        reference, _, text = line.partition(" ")
        if text:
            yield reference, reference.rstrip("0123456789:"), text.split()


def bare(word):
    return word.strip(",.;:?!()'")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "datasets")
    all_verses = list(verses())
    following = collections.defaultdict(collections.Counter)
    for _, book, words in all_verses:
        if book in HELD_OUT_BOOKS:
            continue
        for k in range(CONTEXT, len(words)):
            following[tuple(words[k - CONTEXT:k])][bare(words[k])] += 1
    candidates = []
    for reference, book, words in all_verses:
        if book not in HELD_OUT_BOOKS:
            continue
        for k in range(CONTEXT, len(words)):
            counts = following.get(tuple(words[k - CONTEXT:k]))
            if not counts:
                continue
            word, count = counts.most_common(1)[0]
            total = sum(counts.values())
            prompt = " ".join(words[:k])
            if len(prompt) > MAX_PROMPT:
                break
            if total >= MIN_COUNT and count / total >= MIN_SHARE and word == bare(words[k]) and len(word) > 2:
                candidates.append({"prompt": prompt, "answers": [word], "source": "KJV " + reference})
                break  # one sample per verse
    step = max(1, len(candidates) // SAMPLES)
    chosen = candidates[::step][:SAMPLES]
    path = os.path.join(out_dir, "kjv_complete.jsonl")
    with open(path, "w", encoding="utf-8") as out:
        for sample in chosen:
            out.write(json.dumps(sample) + "\n")
    print(f"wrote {len(chosen)} of {len(candidates)} candidate samples to {path}")


if __name__ == "__main__":
    main()
