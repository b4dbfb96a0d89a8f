#!/usr/bin/env python3
"""Builds the project's default calibration and evaluation sets from the King James Bible (public domain, Debian bible-kjv).

Deterministic: fixed passages, so the committed data/datasets/kjv_calib.jsonl can be regenerated and checked.
Usage: scripts/make-default-datasets.py [output_dir]   (needs the `bible` command from bible-kjv)
"""
import json
import os
import subprocess
import sys

# Passages of a few verses each from across both testaments; later releases hold other books out for evaluation.
PASSAGES = [
    "Gen1:1-5", "Gen12:1-4", "Gen37:3-8", "Exo3:1-6", "Exo20:1-8", "Lev19:9-14", "Num6:22-27",
    "Deu6:4-9", "Jos1:6-9", "Jdg6:11-14", "Rut1:15-18", "1Sa17:40-45", "2Sa12:1-5", "1Ki3:5-10",
    "2Ki5:9-14", "Neh2:17-20", "Job38:1-7", "Psa23:1-6", "Psa46:1-7", "Psa121:1-8", "Ecc3:1-8",
    "Isa40:28-31", "Isa53:3-6", "Jer29:11-14", "Eze37:1-6", "Dan6:19-23", "Jon1:1-5", "Mic6:6-8",
    "Mat5:3-10", "Mat13:3-9", "Mar4:35-41", "Luk15:11-16", "Joh1:1-5", "Joh11:32-36", "Act2:1-6",
    "Act27:39-44", "Rom8:35-39", "1Co13:1-7", "Gal5:22-26", "Eph6:10-15", "Heb11:1-6", "Jam1:2-8",
    "1Pe5:6-10", "1Jo4:7-12", "Rev21:1-5", "Rev22:1-5",
]


def passage_text(reference: str) -> str:
    output = subprocess.run(["bible", "-f", reference], cwd="/usr/lib", check=True, capture_output=True,
                            text=True).stdout
    verses = []
    for line in output.splitlines():
        line = line.strip()
        if not line:
            continue
        # "Ge1:1 In the beginning ..." → drop the verse reference.
        verses.append(line.split(" ", 1)[1] if " " in line else line)
    return " ".join(verses)


HELD_OUT_BOOKS = ("Prv", "Lam", "2Tim")  # never used for training the demo model


def held_out_verses():
    output = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], cwd="/usr/lib", check=True, capture_output=True,
                            text=True).stdout
    verses = []
    for line in output.splitlines():
        reference, _, text = line.partition(" ")
        book = reference.rstrip("0123456789:")
        if book in HELD_OUT_BOOKS and text:
            verses.append((reference, text))
    return verses


def write_eval_sets(out_dir: str) -> None:
    import random
    verses = held_out_verses()
    # Perplexity/accuracy set: 48 passages of 4 consecutive held-out verses, evenly spread.
    step = len(verses) // 48
    with open(os.path.join(out_dir, "kjv_eval.jsonl"), "w", encoding="utf-8") as out:
        for i in range(48):
            chunk = verses[i * step:i * step + 4]
            out.write(json.dumps({"inputs_pretokenized": " ".join(t for _, t in chunk),
                                  "source": "KJV " + chunk[0][0] + "-" + chunk[-1][0]}) + "\n")
    # Multiple choice: the start of a held-out verse, its true ending and three endings of other verses.
    rng = random.Random(1611)
    candidates = [(r, t) for r, t in verses if len(t.split()) >= 10]
    with open(os.path.join(out_dir, "kjv_choice.jsonl"), "w", encoding="utf-8") as out:
        for reference, text in rng.sample(candidates, 40):
            words = text.split()
            cut = len(words) // 2
            context, ending = " ".join(words[:cut]), " " + " ".join(words[cut:])
            others = []
            while len(others) < 3:
                _, other = rng.choice(candidates)
                other_words = other.split()
                option = " " + " ".join(other_words[len(other_words) // 2:])
                if option != ending and option not in others:
                    others.append(option)
            label = rng.randrange(4)
            choices = others[:label] + [ending] + others[label:]
            out.write(json.dumps({"inputs_pretokenized": context, "choices_pretokenized": choices, "label": label,
                                  "source": "KJV " + reference}) + "\n")


def main() -> None:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "data", "datasets")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "kjv_calib.jsonl")
    with open(path + ".tmp", "w", encoding="utf-8") as out:
        for reference in PASSAGES:
            out.write(json.dumps({"inputs_pretokenized": passage_text(reference), "source": "KJV " + reference}) + "\n")
    os.replace(path + ".tmp", path)
    print(f"wrote {len(PASSAGES)} samples to {path}")
    write_eval_sets(out_dir)
    print("wrote kjv_eval.jsonl and kjv_choice.jsonl (held-out books: " + ", ".join(HELD_OUT_BOOKS) + ")")


if __name__ == "__main__":
    main()
