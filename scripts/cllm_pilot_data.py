#!/usr/bin/env python3
"""Convert a `cllm train` run's token cache into the data folder of the PyTorch pilot
(`cllm_pilot.py`: data/corpus.npz + meta.json), so that the pilot trains on exactly the
texts, token ids, split families and embedding rows that the Rust trainer sees.

    python3 scripts/cllm_pilot_data.py RUN_DIR OUT_DATA_DIR

RUN_DIR is the output folder of `cllm train` (it holds tokens-L256.safetensors and
vocab.safetensors). Needs numpy and safetensors. Text bytes are not reconstructed (the
pilot only prints them): vocab_bytes_hex holds the token id in ASCII instead.

Needs numpy; reads the safetensors files with the `safetensors` package when it is
installed and with a few lines of numpy otherwise (the GPU machine may lack the package).
"""
import json
import os
import sys

import numpy as np

try:
    from safetensors import safe_open
except ImportError:  # the format is simple: u64 header length, JSON header, raw tensors
    _DTYPES = {"F32": np.float32, "F16": np.float16, "U32": np.uint32, "I32": np.int32,
               "U64": np.uint64, "I64": np.int64, "U8": np.uint8}

    class safe_open:  # noqa: N801 (the package's own name)
        def __init__(self, path, framework):
            with open(path, "rb") as f:
                self._buf = f.read()
            n = int.from_bytes(self._buf[:8], "little")
            self._header = json.loads(self._buf[8:8 + n])
            self._base = 8 + n

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def metadata(self):
            return self._header.get("__metadata__", {})

        def get_tensor(self, name):
            t = self._header[name]
            lo, hi = t["data_offsets"]
            raw = self._buf[self._base + lo:self._base + hi]
            return np.frombuffer(raw, _DTYPES[t["dtype"]]).reshape(t["shape"])


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
