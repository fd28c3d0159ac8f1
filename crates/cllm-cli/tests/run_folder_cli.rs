//! One writer per run folder, and a run stopped by a signal the way Ctrl-C stops it: a
//! second `cllm train` on a folder in use fails at once naming the holder's pid; SIGTERM
//! makes the first write a checkpoint and exit with the stopped status (75); the same
//! command then resumes and finishes. A tiny random backbone written by the test; no
//! default assets, no network.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cllm_autoencoder::{CllmConfig, StageConfig};
use common::{tiny_gguf, D};

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// `cllm train` on 64 short texts for up to `seconds`, checkpointing every 5 steps.
fn train_args(dir: &Path, out: &Path, seconds: u32) -> Vec<String> {
    let corpus = dir.join("texts.jsonl");
    if !corpus.exists() {
        let lines: String = (0..64)
            .map(|i| {
                serde_json::json!({"id": format!("t{i}"), "text": format!("a short text number {i}")})
                    .to_string()
                    + "\n"
            })
            .collect();
        std::fs::write(&corpus, lines).unwrap();
    }
    let config = dir.join("model.json");
    if !config.exists() {
        let c = CllmConfig::new(D, 32, 32, 8, vec![StageConfig::new(1, 4, 32)]).with_heads(2);
        std::fs::write(&config, serde_json::to_string(&c).unwrap()).unwrap();
    }
    let gguf = tiny_gguf(dir);
    [
        "train",
        "--corpus",
        &s(&corpus),
        "--model-config",
        &s(&config),
        "--out",
        &s(out),
        "--steps",
        "100000",
        "--time-budget",
        &seconds.to_string(),
        "--batch",
        "4",
        "--eval-every",
        "0",
        "--checkpoint-every",
        "5",
        "--report-texts",
        "4",
        "--eval-texts",
        "4",
        "--offline",
        "--cache",
        &s(&dir.join("empty-cache")),
        "--gguf",
        &s(&gguf),
    ]
    .map(String::from)
    .to_vec()
}

fn start(args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_cllm"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `path` exists (the run has started training), at most `limit`.
fn wait_for(path: &Path, limit: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn a_second_writer_is_refused_and_sigterm_checkpoints_then_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    let out = dir.join("run");
    let args = train_args(&dir, &out, 600);
    let first = start(&args);
    let pid = first.id();
    let started = wait_for(
        &out.join("checkpoints").join("latest"),
        Duration::from_secs(120),
    );
    assert!(started, "the first run never wrote a checkpoint");

    // a second process on the same folder: refused within a second, naming the pid
    let t = Instant::now();
    let second = Command::new(env!("CARGO_BIN_EXE_cllm"))
        .args(&args)
        .output()
        .unwrap();
    let took = t.elapsed();
    let said = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(
        said.contains("in use") && said.contains(&format!("pid {pid}")),
        "{said}"
    );
    assert!(said.contains(&s(&out)), "the folder is named: {said}");
    assert!(took < Duration::from_secs(5), "refused after {took:?}");

    // SIGTERM: a checkpoint after the step, then the stopped status
    let killed = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let done = first.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&done.stderr);
    assert_eq!(done.status.code(), Some(75), "{said}");
    assert!(said.contains("stopped at step"), "{said}");
    let step: usize = said
        .split("stopped at step ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no step in {said}"));
    let latest = std::fs::read_to_string(out.join("checkpoints").join("latest")).unwrap();
    assert!(
        latest.trim().ends_with(&format!("{step:08}")),
        "{latest} vs step {step}"
    );
    // no temporary file of an atomic write is left in the folder
    for e in std::fs::read_dir(&out).unwrap().flatten() {
        assert!(
            !e.file_name().to_string_lossy().contains(".tmp-"),
            "{:?}",
            e.file_name()
        );
    }

    // the same command with a short time budget (not a compared setting) resumes from
    // the checkpoint and finishes
    let args = train_args(&dir, &out, 3);
    let again = Command::new(env!("CARGO_BIN_EXE_cllm"))
        .args(&args)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{said}");
    let stdout = String::from_utf8_lossy(&again.stdout);
    let trained: usize = stdout
        .split("trained ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        trained >= step,
        "resumed from step {step}, ended at {trained}"
    );
    assert!(out.join("model").join("model.mpk").exists());
}

#[test]
fn a_negative_decorrelation_weight_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = dir.join("run");
    let mut args = train_args(dir, &out, 60);
    args.push("--decor-weight=-1".into());
    let o = Command::new(env!("CARGO_BIN_EXE_cllm"))
        .args(&args)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("decor"), "{said}");
    assert!(!out.join("model").exists());
}
