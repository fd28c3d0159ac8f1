//! Every text-reading command on a corpus of the user's own (a dozen JSONL texts) with a
//! tiny random backbone written by the test: no default assets, no network. Checks the
//! wiring (groups as held-out families, typed refusals naming file and line), not what
//! the model learns.

mod common;

use std::path::{Path, PathBuf};

use cllm_autoencoder::{CllmConfig, StageConfig};
use common::{cllm, tiny_gguf, D};

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
