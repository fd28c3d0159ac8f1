//! `scripts/gpu/bundle.sh` and `scripts/gpu/run.sh` in CPU mode, so that the prepared GPU
//! run cannot rot while no GPU is around: the data prepared from 200 recipes of the default
//! assets (fetched on first use), bundled with this test's own `cllm` binary, run with
//! seconds-long budgets. Checks the wiring (every step runs, every number reaches
//! summary.json), not what the models learn.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn show(what: &str, out: &Output) {
    if !out.status.success() {
        eprintln!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn bash(script: &Path, args: &[&str]) -> Output {
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("running bash");
    show(&script.display().to_string(), &out);
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Prepared data (token cache + vocabulary table) of the first 200 recipes, bundled.
fn bundle(tmp: &Path) -> PathBuf {
    let prep = tmp.join("prep");
    let out = Command::new(env!("CARGO_BIN_EXE_cllm"))
        .args([
            "train",
            "--prepare-only",
            "--limit",
            "200",
            "--out",
            s(&prep),
        ])
        .output()
        .expect("running cllm");
    show("cllm train --prepare-only", &out);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("prepared 200 texts"));

    let dir = tmp.join("bundle");
    let out = bash(
        &repo_root().join("scripts/gpu/bundle.sh"),
        &[
            "--cpu",
            "--bin",
            env!("CARGO_BIN_EXE_cllm"),
            "--data",
            s(&prep),
            "--pilot",
            s(&tmp.join("no-pilot.py")),
            "--out",
            s(&dir),
        ],
    );
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("MiB (limit 60 MiB)"), "{said}");
    for f in [
        "bin/cllm.xz",
        "data/tokens-L256.safetensors.xz",
        "data/vocab.safetensors.xz",
        "run.sh",
        "summarize.py",
        "pilot/cllm_pilot_data.py",
        "MANIFEST.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing from the bundle");
    }
    dir
}

#[test]
fn the_gpu_run_in_cpu_mode_trains_every_step_and_writes_every_number() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = bundle(tmp.path());
    let out_dir = tmp.path().join("out");
    let out = bash(
        &dir.join("run.sh"),
        &[
            "--cpu",
            "--budget",
            "20",
            "--no-pilot",
            "--out",
            s(&out_dir),
            "--work",
            s(&tmp.path().join("work")),
        ],
    );
    assert!(out.status.success());
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["env"]["mode"], "cpu");
    let steps = summary["steps"].as_array().expect("steps");
    let names: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(
        names,
        ["k64-mirror", "k64-ar", "k16-ar", "k16-mirror", "cllm2-soup"]
    );
    for step in steps {
        let name = step["step"].as_str().unwrap();
        assert_eq!(step["rc"], 0, "{name} failed: see {}", out_dir.display());
        assert!(step["steps"].as_u64().unwrap_or(0) >= 1, "{name}: no step");
        assert!(step["texts_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{name}");
        assert!(
            step["first_step_s"].as_f64().is_some(),
            "{name}: no time to first step"
        );
        let splits = step["splits"].as_object().expect("splits");
        assert!(
            splits.contains_key("train") && splits.contains_key("val"),
            "{name}"
        );
        if name == "cllm2-soup" {
            assert!(!splits.contains_key("soup"), "soup is trained on by CLLM2");
        } else {
            assert!(splits.contains_key("soup"), "{name}: soup not held out");
            assert!(step["void_auroc"]["soup"].is_f64(), "{name}: no void AUROC");
        }
    }
    let decoders: Vec<&str> = steps.iter().filter_map(|s| s["decoder"].as_str()).collect();
    assert_eq!(
        decoders,
        [
            "mirror",
            "autoregressive",
            "autoregressive",
            "mirror",
            "autoregressive"
        ]
    );
}

#[test]
fn the_gpu_run_says_what_is_missing_instead_of_running() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bundle");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::copy(repo_root().join("scripts/gpu/run.sh"), dir.join("run.sh")).unwrap();
    std::fs::copy(
        repo_root().join("scripts/gpu/summarize.py"),
        dir.join("summarize.py"),
    )
    .unwrap();
    // neither binary nor data in this bundle
    let out_dir = tmp.path().join("out");
    let out = Command::new("bash")
        .arg(dir.join("run.sh"))
        .args(["--cpu", "--out", s(&out_dir)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("FATAL") && said.contains("bin/cllm.xz in the bundle"),
        "{said}"
    );
}
