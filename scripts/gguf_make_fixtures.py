#!/usr/bin/env python3
"""Writes the small reference fixtures of crates/cllm-gguf into fixtures/gguf/.

Independent reference: everything here is produced by llama.cpp's own Python package
`gguf` (gguf-py): GGUFWriter for the files, gguf.quants.quantize / dequantize for the
expected values. The Rust tests require bit-exact agreement.

    /path/to/venv/bin/python scripts/gguf_make_fixtures.py [--smollm2 FILE.gguf]

Outputs (all little-endian, a few KB each):
  dequant_<TYPE>.gguf        one tensor "t" (shape [4, 256], i.e. ne = [256, 4]) of TYPE
  dequant_<TYPE>.f32.bin     gguf-py's dequantisation of it, f32, row-major
  quant_src.f32.bin          f32 input for the quantiser tests (8 x 256)
  quant_<TYPE>.bin           gguf-py's quantisation of quant_src for F16/BF16/Q8_0/Q4_0/Q4_1
  metadata.gguf / metadata.json   one key of every value type (incl. nested arrays)
  smollm2_slices.json        (with --smollm2) slices of the real SmolLM2 Q4_1 model,
                             dequantised by gguf-py, as f32 bit patterns
"""

import argparse
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "gguf")
ROWS, COLS = 4, 256
rng = np.random.default_rng(20240611)


def write_gguf(path, tensors, kvs=()):
    w = gguf.GGUFWriter(path, arch=None)
    for key, val, vtype, sub in kvs:
        w.add_key_value(key, val, vtype, sub)
    for name, arr, raw in tensors:
        w.add_tensor(name, arr, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def random_k_blocks(qtype, n_blocks):
    """Random K-quant blocks whose f16 scale fields hold sane values (random bits
    elsewhere: every quant and sub-scale combination gets exercised)."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    f16 = lambda k: rng.uniform(-0.05, 0.05, size=(n_blocks, k)).astype(np.float16).view(np.uint8)
    if qtype in (T.Q4_K, T.Q5_K):  # d, dmin first
        b[:, 0:4] = f16(2)
    elif qtype == T.Q2_K:  # d, dmin last
        b[:, type_size - 4:] = f16(2)
    elif qtype in (T.Q3_K, T.Q6_K):  # d last
        b[:, type_size - 2:] = f16(1)
    else:
        raise ValueError(qtype)
    return b


def dequant_fixtures():
    x = (rng.standard_normal((ROWS, COLS)) * 0.1).astype(np.float32)
    x[0, :32] = 0.0  # an all-zero block
    x[1, :32] = 0.25  # a constant block
    for name in ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                 "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]:
        qtype = T[name]
        if name == "F32":
            raw, data = None, x
        elif name == "F16":
            raw, data = None, x.astype(np.float16)
        elif name in ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"):
            raw = qtype
            data = random_k_blocks(qtype, ROWS * COLS // 256).reshape(ROWS, -1)
        else:
            raw = qtype
            data = gguf.quants.quantize(x, qtype)
        if name == "F32":
            expected = x
        elif name == "F16":
            expected = data.astype(np.float32)
        else:
            expected = gguf.quants.dequantize(data, qtype)
        expected = np.asarray(expected, dtype=np.float32).reshape(ROWS, COLS)
        write_gguf(os.path.join(OUT, f"dequant_{name}.gguf"), [("t", data, raw)],
                   kvs=[("general.architecture", "fixture", V.STRING, None)])
        expected.astype("<f4").tofile(os.path.join(OUT, f"dequant_{name}.f32.bin"))


def quant_fixtures():
    src = (rng.standard_normal((8, 256)) * 0.5).astype(np.float32)
    src[0, :32] = 0.0
    src[1, :32] = -1.5
    src[2, :32] = np.linspace(-1, 1, 32, dtype=np.float32)  # exact .5 ties for Q8_0
    src[3, :32] *= 1e-3
    src[4, :32] *= 1e3
    src.astype("<f4").tofile(os.path.join(OUT, "quant_src.f32.bin"))
    for name in ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1"]:
        q = gguf.quants.quantize(src, T[name])
        np.ascontiguousarray(q).view(np.uint8).tofile(os.path.join(OUT, f"quant_{name}.bin"))


def metadata_fixture():
    kvs = [
        ("general.architecture", "llama", V.STRING, None),
        ("test.u8", 200, V.UINT8, None),
        ("test.i8", -100, V.INT8, None),
        ("test.u16", 60000, V.UINT16, None),
        ("test.i16", -30000, V.INT16, None),
        ("test.u32", 4000000000, V.UINT32, None),
        ("test.i32", -2000000000, V.INT32, None),
        ("test.f32", 0.1, V.FLOAT32, None),
        ("test.bool", True, V.BOOL, None),
        ("test.string", "héllo wörld ✓", V.STRING, None),
        ("test.u64", 2**63 + 5, V.UINT64, None),
        ("test.i64", -(2**62), V.INT64, None),
        ("test.f64", 2.718281828459045, V.FLOAT64, None),
        ("test.arr_str", ["a", "", "ü"], V.ARRAY, V.STRING),
        ("test.arr_f32", [1.5, -2.25], V.ARRAY, V.FLOAT32),
        ("test.arr_i32", [1, -2, 3], V.ARRAY, V.INT32),
        ("test.arr_u64", [7, 8], V.ARRAY, V.UINT64),
        ("test.nested", [[1, 2], [3]], V.ARRAY, None),
    ]
    w = gguf.GGUFWriter(os.path.join(OUT, "metadata.gguf"), arch=None)
    for key, val, vtype, sub in kvs:
        w.add_key_value(key, val, vtype, sub)
    w.add_tensor("t", np.arange(32, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    expected = {k: v for k, v, _, _ in kvs}
    expected["test.f32"] = float(np.float32(0.1))
    with open(os.path.join(OUT, "metadata.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1)


def smollm2_fixture(path):
    r = gguf.GGUFReader(path)
    tensors = {t.name: t for t in r.tensors}

    def rows(name, row, n=64):
        t = tensors[name]
        full = gguf.quants.dequantize(t.data, t.tensor_type)  # row-major, shape reversed(ne)
        full = np.asarray(full, dtype=np.float32).reshape(-1, int(t.shape[0]))
        return [int(b) for b in full[row, :n].view(np.uint32)]

    out = {"slices": []}
    for name, row in [("token_embd.weight", 0), ("token_embd.weight", 1000),
                      ("blk.0.attn_q.weight", 0), ("blk.0.attn_k.weight", 5),
                      ("blk.29.ffn_down.weight", 575), ("blk.0.attn_norm.weight", 0),
                      ("output_norm.weight", 0)]:
        t = tensors[name]
        out["slices"].append({"tensor": name, "type": t.tensor_type.name,
                              "ne": [int(d) for d in t.shape], "row": row,
                              "f32_bits": rows(name, row)})
    with open(os.path.join(OUT, "smollm2_slices.json"), "w") as f:
        json.dump(out, f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smollm2", help="SmolLM2-135M-Instruct.Q4_1.gguf to extract slices from")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    dequant_fixtures()
    quant_fixtures()
    metadata_fixture()
    if args.smollm2:
        smollm2_fixture(args.smollm2)
    print("wrote", sorted(os.listdir(OUT)), file=sys.stderr)


if __name__ == "__main__":
    main()
