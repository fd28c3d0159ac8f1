#!/usr/bin/env python3
"""cllm_bench_torch.py - training-step throughput of the CLLM in PyTorch on CPU.

The same architecture and objective as crates/cllm-autoencoder (and the pilot): Linear d->W;
per stage [learned position embedding, pre-norm transformer layers (W, heads, ffn 4W, GELU),
merge `merge` adjacent positions (reshape + Linear merge*W -> W)]; LayerNorm; flatten; Linear
-> k. Mirrored decoder. Padding keys masked in the first stage. Loss: CE(exp(s) * out . E_V^T)
over the corpus vocabulary on the first (max length + 1) positions + 0.1 * MSE over all
positions. AdamW (weight decay 0.01), gradient clipping at 1.0, fp32.

--decoder ar: the autoregressive decoder instead (crates/cllm-autoencoder/src/ar.rs, the CPU
prototype's design in ../shared/reference): the vector as 4 prefix positions and added to every
input, 25% word dropout, 2 pre-norm causal layers at W = 128, out W -> d, the same tied head
over every position (written as a PyTorch user would: out(h) . E_V^T).

Synthetic data with the recipe corpus's shape: |V| = 9576 rows of width 576, L = 256, every
text full length (the worst case of the length crop), random ids.

Usage: /work/pyref/bin/python scripts/cllm_bench_torch.py --threads 2 --steps 12 --preset cpu
Prints one JSON line with tokens/s (batch * L / mean step time, first 2 steps excluded).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def tlayer(w, heads):
    return nn.TransformerEncoderLayer(d_model=w, nhead=heads, dim_feedforward=4 * w, dropout=0.0,
                                      activation="gelu", batch_first=True, norm_first=True)


class CLLM(nn.Module):
    def __init__(self, d, L, w, k, stages, merge, layers, heads):
        super().__init__()
        self.w, self.m, self.S = w, merge, stages
        self.n_top = L // merge ** stages
        enc_n = [L // merge ** s for s in range(stages)]
        dec_n = [self.n_top * merge ** (s + 1) for s in range(stages)]
        self.in_proj = nn.Linear(d, w)
        self.enc_pos = nn.ParameterList([nn.Parameter(torch.randn(1, n, w) * 0.02) for n in enc_n])
        self.enc_blocks = nn.ModuleList([nn.ModuleList([tlayer(w, heads) for _ in range(layers)]) for _ in range(stages)])
        self.merges = nn.ModuleList([nn.Linear(merge * w, w) for _ in range(stages)])
        self.enc_norm = nn.LayerNorm(w)
        self.to_latent = nn.Linear(self.n_top * w, k)
        self.from_latent = nn.Linear(k, self.n_top * w)
        self.splits = nn.ModuleList([nn.Linear(w, merge * w) for _ in range(stages)])
        self.dec_pos = nn.ParameterList([nn.Parameter(torch.randn(1, n, w) * 0.02) for n in dec_n])
        self.dec_blocks = nn.ModuleList([nn.ModuleList([tlayer(w, heads) for _ in range(layers)]) for _ in range(stages)])
        self.dec_norm = nn.LayerNorm(w)
        self.out_proj = nn.Linear(w, d)
        self.log_scale = nn.Parameter(torch.zeros(()))

    def encode(self, x, pad_mask):
        h = self.in_proj(x)
        for s in range(self.S):
            h = h + self.enc_pos[s]
            for layer in self.enc_blocks[s]:
                h = layer(h, src_key_padding_mask=pad_mask if s == 0 else None)
            b, n, w = h.shape
            h = self.merges[s](h.reshape(b, n // self.m, self.m * w))
        return self.to_latent(self.enc_norm(h).flatten(1))

    def decode(self, z):
        h = self.from_latent(z).reshape(z.shape[0], self.n_top, self.w)
        for s in range(self.S):
            b, n, w = h.shape
            h = self.splits[s](h).reshape(b, n * self.m, w) + self.dec_pos[s]
            for layer in self.dec_blocks[s]:
                h = layer(h)
        return self.out_proj(self.dec_norm(h))


class ArDecoder(nn.Module):
    def __init__(self, d, L, w, k, layers, heads, n_prefix=4):
        super().__init__()
        self.P, self.w = n_prefix, w
        self.tok_proj = nn.Linear(d, w)
        self.bos = nn.Parameter(torch.randn(w) * 0.02)
        self.mask_tok = nn.Parameter(torch.randn(w) * 0.02)
        self.prefix = nn.Linear(k, n_prefix * w)
        self.add = nn.Linear(k, w)
        self.pos = nn.Parameter(torch.randn(1, L + n_prefix + 1, w) * 0.02)
        self.blocks = nn.ModuleList([tlayer(w, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(w)
        self.out = nn.Linear(w, d)

    def forward(self, z, x, drop):
        b, t, _ = x.shape
        h = self.tok_proj(x)
        keep = (torch.rand(b, t, 1) >= drop).float()
        h = h * keep + self.mask_tok * (1 - keep)
        h = torch.cat([self.bos.expand(b, 1, self.w), h[:, :-1]], 1) + self.add(z)[:, None]
        h = torch.cat([self.prefix(z).reshape(b, self.P, self.w), h], 1) + self.pos[:, :t + self.P]
        mask = torch.triu(torch.full((t + self.P, t + self.P), float("-inf")), 1)
        for blk in self.blocks:
            h = blk(h, src_mask=mask)
        return self.out(self.norm(h[:, self.P:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--preset", choices=["cpu", "full"], default="cpu")
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=9576)
    ap.add_argument("--decoder", choices=["mirror", "ar"], default="mirror")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d, L = 576, 256
    w, layers = (128, 1) if a.preset == "cpu" else (256, 2)
    model = CLLM(d, L, w, a.k, 3, 4, layers, 4)
    if a.decoder == "ar":
        model.ar = ArDecoder(d, L, 128, a.k, 2, 4)
    E = torch.randn(a.vocab, d) * 0.05
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    ids = torch.randint(0, a.vocab, (a.batch, L))
    pad_mask = torch.zeros(a.batch, L, dtype=torch.bool)  # full-length texts
    times = []
    for step in range(a.steps):
        t0 = time.perf_counter()
        x = E[ids]
        z = model.encode(x, pad_mask)
        if a.decoder == "ar":
            out = model.ar(z, x, 0.25)
            logits = torch.exp(model.log_scale) * (out.reshape(-1, d) @ E.t())
            loss = F.cross_entropy(logits, ids.reshape(-1))
        else:
            out = model.decode(z)
            logits = torch.exp(model.log_scale) * (out.reshape(-1, d) @ E.t())
            loss = F.cross_entropy(logits, ids.reshape(-1)) + 0.1 * F.mse_loss(out, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss.item()
        times.append(time.perf_counter() - t0)
    steady = times[2:] if len(times) > 3 else times
    mean = sum(steady) / len(steady)
    print(json.dumps(dict(impl="pytorch", torch=torch.__version__, threads=a.threads, preset=a.preset,
                          decoder=a.decoder, batch=a.batch,
                          L=L, vocab=a.vocab, params=sum(p.numel() for p in model.parameters() if p.grad is not None),  # those the step trains
                          step_s=mean, tokens_per_s=a.batch * L / mean, steps_timed=len(steady))))


if __name__ == "__main__":
    main()
