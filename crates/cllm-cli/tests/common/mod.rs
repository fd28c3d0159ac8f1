//! Shared by the CLI tests: the `cllm` runner, and for the tests that run on a tiny random
//! backbone a two-block llama GGUF written by the test (no default assets, no network).
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cllm_gguf::{GgmlType, GgufWriter, MetadataArray, MetadataValue};

/// Runs the `cllm` binary; prints its output when it fails.
pub fn cllm(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cllm"))
        .args(args)
        .output()
        .expect("running cllm");
    if !out.status.success() {
        eprintln!(
            "cllm {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// `cllm train` options for a few steps on a slice of the corpus: the wiring, not learning.
pub const QUICK_TRAIN: &[&str] = &[
    "--limit",
    "200",
    "--steps",
    "3",
    "--batch",
    "4",
    "--eval-every",
    "2",
    "--eval-texts",
    "4",
    "--report-texts",
    "4",
];

/// The tiny backbone's width.
pub const D: usize = 32;

/// A two-block llama GGUF of width 32 with a byte-level vocabulary (every byte is a token,
/// so any text tokenizes) and the `<|im_end|>` pad token the trainer needs.
pub fn tiny_gguf(dir: &Path) -> PathBuf {
    let mut printable: Vec<u32> = ('!' as u32..='~' as u32).collect();
    printable.extend('¡' as u32..='¬' as u32);
    printable.extend('®' as u32..='ÿ' as u32);
    let mut extra = 0;
    let mut tokens: Vec<String> = (0..256u32)
        .map(|b| {
            let c = if printable.contains(&b) {
                b
            } else {
                extra += 1;
                255 + extra
            };
            char::from_u32(c).unwrap().to_string()
        })
        .collect();
    tokens.extend(["<|endoftext|>", "<|im_end|>", "Ġt"].map(String::from));
    let mut types = vec![1i32; tokens.len()];
    types[256] = 3;
    types[257] = 3;
    let vocab = tokens.len();
    let (ff, layers, heads) = (64usize, 2u32, 4u32);
    let meta: Vec<(&str, MetadataValue)> = vec![
        ("general.architecture", "llama".into()),
        ("general.name", "tiny".into()),
        ("llama.block_count", layers.into()),
        ("llama.context_length", 128u32.into()),
        ("llama.embedding_length", (D as u32).into()),
        ("llama.feed_forward_length", (ff as u32).into()),
        ("llama.attention.head_count", heads.into()),
        ("llama.attention.head_count_kv", 2u32.into()),
        ("llama.rope.freq_base", 10000.0f32.into()),
        ("llama.attention.layer_norm_rms_epsilon", 1e-5f32.into()),
        ("tokenizer.ggml.model", "gpt2".into()),
        ("tokenizer.ggml.pre", "smollm".into()),
        (
            "tokenizer.ggml.tokens",
            MetadataArray::strings(&tokens).into(),
        ),
        (
            "tokenizer.ggml.token_type",
            MetadataArray::i32s(types).into(),
        ),
        (
            "tokenizer.ggml.merges",
            MetadataArray::strings(["Ġ t"]).into(),
        ),
    ];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.4
            })
            .collect()
    };
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.add_metadata(k, v).unwrap();
    }
    w.add_tensor_f32(
        "token_embd.weight",
        &[vocab, D],
        &rand(vocab * D),
        GgmlType::F32,
    )
    .unwrap();
    w.add_tensor_f32("output_norm.weight", &[D], &[1.0; D], GgmlType::F32)
        .unwrap();
    let kv = 2 * D / heads as usize;
    for l in 0..layers {
        let p = |s: &str| format!("blk.{l}.{s}.weight");
        for (name, shape) in [
            ("attn_q", [D, D]),
            ("attn_k", [kv, D]),
            ("attn_v", [kv, D]),
            ("attn_output", [D, D]),
            ("ffn_gate", [ff, D]),
            ("ffn_up", [ff, D]),
            ("ffn_down", [D, ff]),
        ] {
            let n = shape[0] * shape[1];
            w.add_tensor_f32(&p(name), &shape, &rand(n), GgmlType::F32)
                .unwrap();
        }
        for name in ["attn_norm", "ffn_norm"] {
            w.add_tensor_f32(&p(name), &[D], &[1.0; D], GgmlType::F32)
                .unwrap();
        }
    }
    let path = dir.join("tiny.gguf");
    w.write_to_path(&path).unwrap();
    path
}
