#!/usr/bin/env python3
"""A seeded synthetic JSONL corpus for measuring how cllm handles large corpora.

    python3 scripts/synthetic_corpus.py --texts 1000000 --out big.jsonl [--seed 0]

Each line is {"id": "s<n>", "text": ..., "label": ...}: a short English-like sentence pair
(about 120 characters) drawn from small word lists, and one of eight labels. The same
seed and count give the same file byte for byte. Only the standard library is used.
"""

import argparse
import json
import random

SUBJECTS = ["The cook", "A farmer", "Our guide", "The child", "An old sailor", "My neighbour",
            "The baker", "A student", "The driver", "Her cousin"]
VERBS = ["carried", "painted", "found", "sold", "repaired", "described", "borrowed", "cleaned",
         "measured", "forgot"]
OBJECTS = ["a wooden boat", "the red kettle", "three baskets of apples", "a broken clock",
           "the village map", "a jar of honey", "two silver spoons", "the heavy door",
           "a book of songs", "the garden gate"]
PLACES = ["near the harbour", "in the market", "behind the school", "at the old mill",
          "on the hill", "by the river", "in the kitchen", "under the bridge"]
TIMES = ["before dawn", "after the storm", "on Sunday", "late at night", "in early spring",
         "during the fair", "at noon", "last winter"]
LABELS = ["harbour", "market", "school", "mill", "hill", "river", "kitchen", "bridge"]


def text(rng: random.Random) -> tuple[str, str]:
    place = rng.randrange(len(PLACES))
    first = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {PLACES[place]}"
    second = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} it {rng.choice(TIMES)}, number {rng.randrange(10**6)}."
    return f"{first}. {second}", LABELS[place]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8") as f:
        for i in range(args.texts):
            t, label = text(rng)
            f.write(json.dumps({"id": f"s{i}", "text": t, "label": label}) + "\n")


if __name__ == "__main__":
    main()
