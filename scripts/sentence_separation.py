#!/usr/bin/env python3
"""Void-score separation of the held-out families in a sentence-embedding space: the AUROC
of each family's mean distance to its 10 nearest training texts against that of validation
texts (the same score `cllm train` reports for text vectors in eval.json).

    python3 scripts/sentence_separation.py SENTENCES.safetensors RUN_DIR/tokens-L256.safetensors

SENTENCES is a vector file from `cllm sentence-embed`; the token cache supplies the document
families. The validation split is drawn like the trainer's in spirit (seeded 5% of the texts
outside soup/pizza), not bit-identically; 2,000 training texts are the reference.
Needs numpy, safetensors and scikit-learn.
"""
import json
import random
import sys

import numpy as np
from safetensors import safe_open
from sklearn.metrics import roc_auc_score


def main():
    with safe_open(sys.argv[1], "np") as s:
        vectors = s.get_tensor("vectors")
        ids = json.loads(s.metadata()["ids"])
    with safe_open(sys.argv[2], "np") as s:
        docs = json.loads(s.metadata()["cllm"])["docs"]
    row = {i: n for n, i in enumerate(ids)}
    held = ("soup", "pizza")
    rest = [d[0] for d in docs if d[1] not in held]
    random.Random(0).shuffle(rest)
    n_val = round(0.05 * len(rest))
    val, train = rest[:n_val], rest[n_val:][:2000]
    ref = vectors[[row[i] for i in train]]

    def score(names):
        q = vectors[[row[i] for i in names]]
        d = np.sqrt(((q[:, None, :] - ref[None]) ** 2).sum(-1))
        d.sort(1)
        return d[:, :10].mean(1)

    s_val = score(val)
    for fam in held:
        names = [d[0] for d in docs if d[1] == fam]
        s_fam = score(names)
        y = np.r_[np.ones(len(s_fam)), np.zeros(len(s_val))]
        print(f"{fam}: {len(names)} texts vs {len(val)} val, AUROC {roc_auc_score(y, np.r_[s_fam, s_val]):.3f}")


if __name__ == "__main__":
    main()
