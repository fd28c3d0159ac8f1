#!/usr/bin/env python3
"""Convert a `cllm train` run's token cache into the data folder of the PyTorch pilot
(`cllm_pilot.py`: data/corpus.npz + meta.json), so that the pilot trains on exactly the
texts, token ids, split families and embedding rows that the Rust trainer sees.

    python3 scripts/cllm_pilot_data.py RUN_DIR OUT_DATA_DIR

RUN_DIR is the output folder of `cllm train` (it holds tokens-L256.safetensors and
vocab.safetensors). Needs numpy and safetensors. Text bytes are not reconstructed (the
pilot only prints them): vocab_bytes_hex holds the token id in ASCII instead.
"""
import json
import os
import sys

import numpy as np
from safetensors import safe_open


def main():
    run, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with safe_open(os.path.join(run, "vocab.safetensors"), "np") as s:
        vocab = s.get_tensor("ids").astype(np.int64)
        rows = s.get_tensor("rows").astype(np.float32)
        pad = int(s.metadata()["pad_id"])
    caches = [f for f in os.listdir(run) if f.startswith("tokens-L") and f.endswith(".safetensors")]
    if len(caches) != 1:
        sys.exit(f"expected one tokens-L*.safetensors in {run}, found {caches}")
    with safe_open(os.path.join(run, caches[0]), "np") as s:
        flat = s.get_tensor("ids").astype(np.int64)
        offsets = s.get_tensor("offsets").astype(np.int64)
        meta = json.loads(s.metadata()["cllm"])
    L = int(meta["max_len"])
    n = len(meta["docs"])
    ids = np.full((n, L), pad, np.int64)
    lens = np.zeros(n, np.int64)
    for i in range(n):
        t = flat[offsets[i]:offsets[i + 1]]
        ids[i, :len(t)] = t
        lens[i] = len(t)
    len_true = np.array([d[2] for d in meta["docs"]], np.int64)
    np.savez(os.path.join(out, "corpus.npz"), ids=ids, len=lens, len_true=len_true, vocab=vocab,
             emb=rows, pad_id=np.int64(pad))
    texts = [dict(id=d[0], title=d[0], families=[d[1]] if d[1] else []) for d in meta["docs"]]
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(dict(texts=texts, vocab_bytes_hex=[str(int(v)).encode().hex() for v in vocab]), f)
    print(f"{n} texts, L={L}, |V|={len(vocab)}, pad={pad} -> {out}")


if __name__ == "__main__":
    main()
