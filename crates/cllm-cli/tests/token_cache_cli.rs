//! `cllm train --prepare-only` builds the token cache in chunks of 4,096 texts: a build cut
//! short resumes from its finished chunks, an appended corpus re-tokenizes only what
//! changed, an unreadable cache file is reported, and `--strict` refuses a text over the
//! model's length in tokens by its id (train, encode). A tiny random backbone written by
//! the test; no default assets, no network.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::SystemTime;

use cllm_autoencoder::{CllmConfig, StageConfig, CHUNK_TEXTS};
use common::{cllm, tiny_gguf, D};

/// The model's length cap in tokens (the tiny backbone tokenizes one byte per token).
const MAX_LEN: usize = 64;

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// JSONL texts `t0…t{n-1}`, plus `extra` lines.
fn write_corpus(path: &Path, n: usize, extra: &[String]) {
    let mut lines = String::new();
    for i in 0..n {
        lines += &serde_json::json!({"id": format!("t{i}"), "text": format!("short text {i}")})
            .to_string();
        lines.push('\n');
    }
    for e in extra {
        lines += e;
        lines.push('\n');
    }
    std::fs::write(path, lines).unwrap();
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    assets: Vec<String>,
    config: String,
}

impl Setup {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let gguf = s(&tiny_gguf(&dir));
        let config =
            CllmConfig::new(D, MAX_LEN, 32, 8, vec![StageConfig::new(1, 4, 32)]).with_heads(2);
        let config_path = dir.join("model.json");
        std::fs::write(&config_path, serde_json::to_string(&config).unwrap()).unwrap();
        let assets = [
            "--offline",
            "--cache",
            &s(&dir.join("empty-cache")),
            "--gguf",
            &gguf,
        ]
        .map(String::from)
        .to_vec();
        Self {
            _tmp: tmp,
            dir,
            assets,
            config: s(&config_path),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.assets.iter().map(String::as_str));
        cllm(&all)
    }

    fn prepare(&self, corpus: &Path, out: &Path, extra: &[&str]) -> Output {
        let (corpus, out) = (s(corpus), s(out));
        let mut args = vec![
            "train",
            "--corpus",
            &corpus,
            "--model-config",
            &self.config,
            "--out",
            &out,
            "--prepare-only",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The chunk files with their modification times, largest file first.
fn chunks(out: &Path) -> Vec<(PathBuf, SystemTime, u64)> {
    let dir = out.join(format!("tokens-L{MAX_LEN}.chunks"));
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (e.path(), m.modified().unwrap(), m.len())
        })
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.2));
    v
}

#[test]
fn the_token_cache_is_built_in_chunks_that_are_reused() {
    let setup = Setup::new();
    let corpus = setup.dir.join("texts.jsonl");
    let out = setup.dir.join("prepared");
    let cache = out.join(format!("tokens-L{MAX_LEN}.safetensors"));
    write_corpus(&corpus, CHUNK_TEXTS + 20, &[]);
    let o = setup.prepare(&corpus, &out, &[]);
    assert!(o.status.success());
    let (stdout, _) = text(&o);
    assert!(stdout.contains("prepared 4116 texts (0 cut"), "{stdout}");
    let first = chunks(&out);
    assert_eq!(first.len(), 2, "a full chunk and a chunk of 20: {first:?}");
    let full_chunk = first[0].clone();
    let finished = std::fs::read(&cache).unwrap();

    // a build cut short: the cache file and the last chunk are gone; the
    // finished chunk is read back, not written again, and the same cache results
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::remove_file(&cache).unwrap();
    std::fs::remove_file(&first[1].0).unwrap();
    assert!(setup.prepare(&corpus, &out, &[]).status.success());
    let resumed = chunks(&out);
    assert_eq!(resumed.len(), 2);
    assert_eq!(resumed[0], full_chunk, "the finished chunk was reused");
    assert_eq!(
        resumed[1].0, first[1].0,
        "the last chunk was tokenized again"
    );
    assert_eq!(std::fs::read(&cache).unwrap(), finished);

    // texts appended: the full chunk is kept as it is, the last one replaced
    let extra: Vec<String> = (0..30)
        .map(|i| {
            serde_json::json!({"id": format!("new{i}"), "text": format!("new text {i}")})
                .to_string()
        })
        .collect();
    write_corpus(&corpus, CHUNK_TEXTS + 20, &extra);
    let o = setup.prepare(&corpus, &out, &[]);
    assert!(o.status.success());
    assert!(text(&o).0.contains("prepared 4146 texts"), "{}", text(&o).0);
    let finished_appended = std::fs::read(&cache).unwrap();
    let appended = chunks(&out);
    assert_eq!(
        appended.len(),
        2,
        "the old last chunk is removed: {appended:?}"
    );
    assert_eq!(appended[0], full_chunk);
    assert_ne!(appended[1].0, first[1].0);

    // an unreadable cache file is a warning naming it (rebuilt from the chunks)
    std::fs::write(&cache, [0xff, 0xfe, 0x80]).unwrap();
    let o = setup.prepare(&corpus, &out, &[]);
    assert!(o.status.success());
    let (_, stderr) = text(&o);
    assert!(
        stderr.contains("token cache") && stderr.contains(&s(&cache)),
        "the unreadable cache is reported: {stderr}"
    );
    assert_eq!(chunks(&out)[0], full_chunk);
    assert_eq!(std::fs::read(&cache).unwrap(), finished_appended);
}

#[test]
fn strict_refuses_a_text_over_the_models_length_by_its_id() {
    let setup = Setup::new();
    let corpus = setup.dir.join("texts.jsonl");
    let long = serde_json::json!({"id": "long-one", "text": "a".repeat(100)}).to_string();
    write_corpus(&corpus, 12, &[long]);

    // without --strict: cut to the model's 64 tokens and counted
    let run = setup.dir.join("run");
    let o = setup.prepare(&corpus, &run, &[]);
    assert!(o.status.success());
    let (stdout, _) = text(&o);
    assert!(
        stdout.contains("prepared 13 texts (1 cut to 64 tokens)"),
        "{stdout}"
    );

    // with --strict: refused, by id and length, from a fresh build and from the cache the
    // cutting build left (within --max-chars, so the corpus reader lets it through)
    for out in [setup.dir.join("strict"), run.clone()] {
        let o = setup.prepare(&corpus, &out, &["--strict"]);
        let (_, stderr) = text(&o);
        assert!(
            !o.status.success() && stderr.contains("\"long-one\" has 100 tokens"),
            "{stderr}"
        );
    }

    // train and encode refuse it the same way
    let steps = [
        "--steps",
        "1",
        "--batch",
        "4",
        "--eval-every",
        "0",
        "--report-texts",
        "2",
    ];
    let (c, r) = (s(&corpus), s(&run));
    let mut train = vec!["train", "--corpus", &c, "--model-config", &setup.config];
    train.extend(["--out", &r, "--val-fraction", "0.2"]);
    train.extend(steps);
    let mut strict = train.clone();
    strict.push("--strict");
    let o = setup.run(&strict);
    assert!(!o.status.success() && text(&o).1.contains("\"long-one\" has 100 tokens"));
    assert!(setup.run(&train).status.success());
    let model = s(&run.join("model"));
    let store = s(&setup.dir.join("vectors.sqlite"));
    let encode = [
        "encode", "--corpus", &c, "--model", &model, "--store", &store,
    ];
    let o = setup.run(&[&encode[..], &["--strict"]].concat());
    let (_, stderr) = text(&o);
    assert!(
        !o.status.success() && stderr.contains("\"long-one\" has 100 tokens"),
        "{stderr}"
    );
    assert!(setup.run(&encode).status.success());
}
