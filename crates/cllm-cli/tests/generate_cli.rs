//! `cllm generate` and `cllm decode` end to end on a model trained for a few steps on a slice
//! of the real corpus (the default assets: fetched and cached on first use, as `cllm assets
//! fetch` does). Checks the wiring — determinism for a seed, the default LM guidance of
//! `generate` and its absence in `decode`, typed refusals — not what the model writes.

use std::path::Path;
use std::process::Output;

mod common;
use common::{cllm, QUICK_TRAIN};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `generate` with a small, quick setting; `extra` appended.
fn generate(model: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "generate",
        "--model",
        model,
        "--reference",
        "40",
        "--real-texts",
        "2",
        "--n",
        "3",
        "--max-tokens",
        "12",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    cllm(&args)
}

#[test]
fn generate_and_decode_from_a_trained_model() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut train = vec!["train", "--out", run.to_str().unwrap()];
    train.extend_from_slice(QUICK_TRAIN);
    assert!(cllm(&train).status.success());
    let model = run.join("model");
    let model_s = model.to_str().unwrap();

    // the default: Gaussian draws decoded under SmolLM2 guidance λ = 0.5, stated in the table
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    assert!(generate(model_s, &a, &[]).status.success());
    let md = read(&a.join("generated.md"));
    assert!(
        md.contains("gaussian") && md.contains("guidance λ = 0.5"),
        "{md}"
    );
    let lines = read(&a.join("generated.jsonl"));
    assert_eq!(lines.lines().count(), 3);
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(v["provenance"]["kind"], "gaussian", "{v}");
        assert!(v["text"].is_string() && v["scores"].is_object(), "{v}");
    }
    // deterministic for a seed (the same bytes), another seed draws other vectors
    assert!(generate(model_s, &b, &[]).status.success());
    assert_eq!(lines, read(&b.join("generated.jsonl")));
    assert!(generate(model_s, &b, &["--seed", "1"]).status.success());
    assert_ne!(lines, read(&b.join("generated.jsonl")));
    // λ = 0: the plain decoder, and the table says no guidance
    assert!(generate(model_s, &b, &["--lm-weight", "0"])
        .status
        .success());
    assert!(!read(&b.join("generated.md")).contains("guidance"));

    // decode: given texts back through the model, plain decoder by default
    let out = cllm(&[
        "decode",
        "--model",
        model_s,
        "--text",
        "Tomato Soup\n\nIngredients:\n- 4 tomatoes\n- Salt",
        "--max-tokens",
        "12",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("original:\nTomato Soup") && stdout.contains("word F1"),
        "{stdout}"
    );

    // refusals: a directory without a model, a negative λ, two samplers at once
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = generate(empty.to_str().unwrap(), &b, &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("config.json"),
        "the error names the missing file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = generate(model_s, &b, &["--lm-weight=-1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("weight"), "{stderr}");
    assert!(
        !stderr.contains("encoding"),
        "refused before any work: {stderr}"
    );
    assert!(!generate(model_s, &b, &["--midpoints", "--gaussian"])
        .status
        .success());
}
