"""Shared helpers for the PyTorch/transformers reference scripts (smollm2_*.py, and
minilm_reference.py for the offline mode and sha256_file).

Not a script on its own. Importing this module forces offline mode for the model hub
(HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1) *before* transformers is imported, so nothing
can be fetched: the model and tokenizer are read only from the local GGUF file.

pip deps: torch transformers gguf accelerate numpy
"""

import hashlib
import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def sha256_file(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def split_gguf_path(path):
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        sys.exit(f"GGUF file not found: {path}")
    return os.path.dirname(path), os.path.basename(path)


def load_tokenizer(gguf_path):
    from transformers import AutoTokenizer

    d, name = split_gguf_path(gguf_path)
    return AutoTokenizer.from_pretrained(d, gguf_file=name)


def load_model(gguf_path, attn_implementation="eager"):
    """fp32, fully dequantised, eval mode. Asserts the linears really are plain fp32 nn.Linear."""
    import torch
    from transformers import AutoModelForCausalLM

    d, name = split_gguf_path(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(
        d, gguf_file=name, dtype=torch.float32, attn_implementation=attn_implementation
    )
    model.eval()
    q = model.model.layers[0].self_attn.q_proj
    assert type(q) is torch.nn.Linear and q.weight.dtype == torch.float32, (
        f"expected a dequantised fp32 nn.Linear, got {type(q)} {q.weight.dtype}"
    )
    return model


def versions():
    import gguf
    import torch
    import transformers

    try:
        from importlib.metadata import version

        gguf_v = version("gguf")
        tok_v = version("tokenizers")
    except Exception:  # pragma: no cover
        gguf_v = getattr(gguf, "__version__", "unknown")
        tok_v = "unknown"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tok_v,
        "gguf": gguf_v,
    }


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown"


def digits_split_tokenizer(tok):
    """The same vocab/merges with llama.cpp's 'smollm' pre-tokenizer (\\p{N} isolated, then GPT-2 regex),
    which is what the original SmolLM2 tokenizer.json does with Digits(individual_digits=True)."""
    from tokenizers import Tokenizer, pre_tokenizers

    t = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    t.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    return t
