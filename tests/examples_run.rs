//! The top-level examples run, on the default assets, as a new user runs them: `method`
//! on a budget of seconds (the whole loop: CLLM1, voids, readings, discovery, report),
//! then `quickstart` and `generate` on what it wrote. Skipped, visibly, where the default
//! assets are not cached (CI fetches them first: `.ci/run`).
//!
//! `cargo test` builds the examples before the tests; this finds their binaries beside the
//! test binary (`target/<profile>/examples/`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/examples/NAME`, built by `cargo test` alongside this test.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    profile_dir.join("examples").join(name)
}

/// Whether the default assets are already in the cache (no download attempted).
fn assets_cached() -> Result<(), String> {
    let opts = cllm::corpus::FetchOptions {
        offline: true,
        ..Default::default()
    };
    cllm::corpus::fetch_assets(&opts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn run(name: &str, args: &[&str]) -> String {
    let bin = example(name);
    assert!(bin.is_file(), "{} not built", bin.display());
    let out = Command::new(&bin)
        .args(args)
        .output()
        .expect("example runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn method_then_quickstart_then_generate() {
    if let Err(why) = assets_cached() {
        eprintln!("SKIP examples: default assets not cached ({why}); run `cllm assets fetch`");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("method");
    let out_s = out.to_str().unwrap();

    // 15 seconds of CLLM1 training: the wiring, not a model worth reading
    let said = run("method", &["pizza", "0.25", out_s]);
    assert!(said.contains("void AUROC"), "{said}");
    assert!(said.contains("reads as pizza"), "{said}");
    for f in [
        "report.md",
        "report.json",
        "report.html",
        "voids.json",
        "cllm1/model/config.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }

    let model = out.join("cllm1/model");
    let said = run(
        "quickstart",
        &[
            model.to_str().unwrap(),
            "Pizza Margherita\nIngredients:\n- dough\n- tomato",
        ],
    );
    assert!(
        said.contains("text:") && said.contains("Pizza Margherita"),
        "{said}"
    );

    let said = run("generate", &[out_s, "3"]);
    assert!(!said.trim().is_empty(), "generate printed nothing");
}
