//! Every text-reading command on a corpus of the user's own (a dozen JSONL texts) with a
//! tiny random backbone written by the test: no default assets, no network. Checks the
//! wiring (groups as held-out families, typed refusals naming file and line), not what
//! the model learns.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cllm_autoencoder::{CllmConfig, StageConfig};
use cllm_gguf::{GgmlType, GgufWriter, MetadataArray, MetadataValue};

const D: usize = 32;

fn cllm(args: &[&str]) -> Output {
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

/// A two-block llama GGUF of width 32 with a byte-level vocabulary (every byte is a token,
/// so any text tokenizes) and the `<|im_end|>` pad token the trainer needs.
fn tiny_gguf(dir: &Path) -> PathBuf {
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

fn write_corpus(dir: &Path) -> PathBuf {
    let mut lines = String::new();
    let topics = [
        ("sea", "waves and salt"),
        ("hill", "grass and stone"),
        ("town", "bricks and bells"),
    ];
    for i in 0..12 {
        let (group, words) = topics[i % 3];
        lines += &serde_json::json!({
            "id": format!("n{i}"),
            "title": format!("Note {i}"),
            "text": format!("Note {i} about the {group}: {words}, number {i}."),
            "groups": group,
        })
        .to_string();
        lines.push('\n');
    }
    let p = dir.join("notes.jsonl");
    std::fs::write(&p, lines).unwrap();
    p
}

#[test]
fn own_corpus_through_embed_train_encode_and_voids() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let gguf = s(&tiny_gguf(t));
    let corpus = s(&write_corpus(t));
    let cache = s(&t.join("empty-cache"));
    let assets = ["--offline", "--cache", &cache, "--gguf", &gguf];
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&assets);
        cllm(&all)
    };

    // the corpus is checked and counted
    let out = run(&["corpus", "stats", "--corpus", &corpus]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("documents") && stdout.contains("12"),
        "{stdout}"
    );
    assert!(stdout.contains("family=sea"), "{stdout}");

    // embed: one shard of 12 texts
    let emb = s(&t.join("emb"));
    assert!(run(&["embed", "--corpus", &corpus, "--out", &emb])
        .status
        .success());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.join("emb/embed-layer0/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["documents"], 12);
    assert_eq!(summary["documents_per_family"]["town"], 4);

    // sentence embeddings from a backbone layer
    let sent = s(&t.join("sent.safetensors"));
    let out = run(&[
        "sentence-embed",
        "--corpus",
        &corpus,
        "--encoder",
        "layer:1",
        "--out",
        &sent,
    ]);
    assert!(out.status.success());

    // train a tiny CLLM with the group "town" held out
    let config = CllmConfig::new(D, 64, 32, 8, vec![StageConfig::new(1, 4, 32)]).with_heads(2);
    let config_path = t.join("model.json");
    std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
    let run_dir = t.join("run");
    let quick = [
        "--steps",
        "2",
        "--batch",
        "4",
        "--eval-every",
        "1",
        "--eval-texts",
        "4",
        "--report-texts",
        "4",
        "--val-fraction",
        "0.2",
    ];
    let mut train = vec![
        "train".to_string(),
        "--corpus".into(),
        corpus.clone(),
        "--model-config".into(),
        s(&config_path),
        "--out".into(),
        s(&run_dir),
        "--hold-out".into(),
        "town".into(),
    ];
    train.extend(quick.iter().map(|q| q.to_string()));
    let train: Vec<&str> = train.iter().map(String::as_str).collect();
    assert!(run(&train).status.success());
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("eval.json")).unwrap()).unwrap();
    let names: Vec<&str> = eval["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"town") && names.contains(&"train"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"soup"),
        "no recipe default with --corpus: {names:?}"
    );

    // encode into the store, then the voids of that collection
    let store = s(&t.join("v.sqlite"));
    let model = s(&run_dir.join("model"));
    let out = run(&[
        "encode",
        "--corpus",
        &corpus,
        "--model",
        &model,
        "--store",
        &store,
        "--collection",
        "notes",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("encoded 12 documents"));
    let voids = s(&t.join("voids.json"));
    let voids_args = [
        "voids",
        "--store",
        &store,
        "--collection",
        "notes",
        "--null-runs",
        "0",
        "--top",
        "2",
        "--out",
        &voids,
    ];
    for with_corpus in [false, true] {
        let mut a = voids_args.to_vec();
        if with_corpus {
            a.extend(["--corpus", &corpus]);
        }
        let out = cllm(&a);
        assert!(out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        // the texts around a zone are labelled with their group and title
        assert!(
            stdout.contains("zone 1 lies between: n") && stdout.contains("] Note "),
            "{stdout}"
        );
    }

    // refusals: a group the corpus does not have, a duplicate id (file and line named),
    // a text over the limit with --strict, an empty corpus
    let mut bad: Vec<&str> = train.clone();
    bad.extend(["--family", "nosuch"]);
    let err = String::from_utf8_lossy(&run(&bad).stderr).into_owned();
    assert!(
        err.contains("no text of family \"nosuch\"") && err.contains("hill, sea, town"),
        "{err}"
    );
    let dup = t.join("dup.jsonl");
    std::fs::write(
        &dup,
        "{\"id\": \"x\", \"text\": \"a\"}\n{\"id\": \"x\", \"text\": \"b\"}\n",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&run(&["embed", "--corpus", &s(&dup), "--out", &emb]).stderr)
        .into_owned();
    assert!(err.contains("dup.jsonl:2: duplicate id \"x\""), "{err}");
    let out = run(&[
        "corpus",
        "stats",
        "--corpus",
        &corpus,
        "--max-chars",
        "10",
        "--strict",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success() && err.contains("notes.jsonl:1: text of"),
        "{err}"
    );
    let empty = t.join("empty.csv");
    std::fs::write(&empty, "text\n").unwrap();
    let err = String::from_utf8_lossy(&run(&["corpus", "stats", "--corpus", &s(&empty)]).stderr)
        .into_owned();
    assert!(err.contains("has no text"), "{err}");
}
