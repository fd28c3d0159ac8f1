//! Training-step throughput on synthetic data shaped like the recipe corpus, to compare
//! with `scripts/cllm_bench_torch.py` (same architecture, objective and optimizer).
//!
//! ```text
//! cargo run --release -p cllm-autoencoder --example bench_step -- --preset cpu-k64 --batch 16 --steps 12
//! cargo run --release -p cllm-autoencoder --example bench_step -- --decoder ar --steps 12
//! ```
//! `--decoder ar` times the autoregressive decoder (its default config) instead of the
//! preset's mirror.
//! |V| = 9576 random rows of width 576, L = 256, every text full length, full corpus
//! softmax (no sampled negatives). Prints one JSON line; the first 2 steps are excluded.
//! Runs on the default backend (Flex on CPU); `CLLM_BENCH_BACKEND=ndarray` runs NdArray.

// the allocator of the `cllm` binary, set up as it sets it up (`keep_freed_memory`), so that
// the step is timed as `cllm train` runs it
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// As the `cllm` binary: mimalloc keeps freed memory instead of purging it after 10 ms
/// (see `keep_freed_memory` in `crates/cllm-cli/src/main.rs`); `MIMALLOC_PURGE_DELAY` wins.
fn keep_freed_memory() {
    extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    /// `mi_option_purge_delay` in mimalloc's `mi_option_t` (2.x and 3.x)
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: a plain option setter of the allocator the binary links; -1 = never purge.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
    }
}

use cllm_autoencoder::{
    train, CachedText, CllmConfig, DefaultTrainBackend, RunControl, TokenCache, TrainData,
    TrainOptions, VocabTable,
};
use rand::{Rng, SeedableRng};

fn arg<T: std::str::FromStr>(name: &str) -> Option<T> {
    let a: Vec<String> = std::env::args().collect();
    let i = a.iter().position(|x| x == name)?;
    a.get(i + 1)?.parse().ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    keep_freed_memory();
    let preset: String = arg("--preset").unwrap_or_else(|| "cpu-k64".into());
    let batch: usize = arg("--batch").unwrap_or(16);
    let steps: usize = arg("--steps").unwrap_or(12);
    let vocab: usize = arg("--vocab").unwrap_or(9576);
    let decoder: String = arg("--decoder").unwrap_or_else(|| "mirror".into());
    let model = match decoder.as_str() {
        "mirror" => CllmConfig::preset(&preset)?,
        "ar" => CllmConfig::preset(&preset)?.with_ar_decoder(Default::default()),
        other => return Err(format!("--decoder {other}: use mirror or ar").into()),
    };
    let (l, d) = (model.max_len, model.input_width);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let table: Vec<f32> = (0..vocab * d)
        .map(|_| rng.random_range(-0.1f32..0.1))
        .collect();
    let texts = (0..batch * 4)
        .map(|i| CachedText {
            id: format!("t{i}"),
            family: None,
            ids: (0..l).map(|_| rng.random_range(1..vocab as u32)).collect(),
            full_len: l,
        })
        .collect();
    let cache = TokenCache::from_texts("synthetic", l, 0, texts)?;
    // the whole table is the vocabulary (|V| = --vocab), as in the PyTorch script
    let vocab_table = VocabTable::from_embedding_table(&table, d, 0..vocab as u32, 0)?;
    let data = TrainData::with_vocab(cache, None, vocab_table)?;
    let opts = TrainOptions {
        model,
        batch_size: batch,
        max_steps: steps,
        warmup_steps: 1,
        eval_every: 0,
        eval_max_texts: batch, // the final validation (after the last timed step)
        checkpoint_every: 0,
        progress: false,
        log_every: 0,
        split: cllm_autoencoder::SplitOptions {
            held_out_families: vec![],
            val_fraction: 0.0,
            seed: 0,
        },
        ..Default::default()
    };
    let dir = tempfile::tempdir()?;
    let backend = std::env::var("CLLM_BENCH_BACKEND").unwrap_or_default();
    let report = match backend.as_str() {
        "ndarray" => run::<burn::backend::Autodiff<burn::backend::NdArray>>(&data, &opts, &dir)?,
        "" | "default" => run::<DefaultTrainBackend>(&data, &opts, &dir)?,
        other => return Err(format!("CLLM_BENCH_BACKEND={other}: use ndarray or default").into()),
    };
    let h = &report.state.history;
    let skip = 2.min(h.len().saturating_sub(2));
    let t0 = if skip == 0 {
        0.0
    } else {
        h[skip - 1].elapsed_s
    };
    let timed = h.len() - skip;
    let step_s = (h[h.len() - 1].elapsed_s - t0) / timed as f64;
    println!(
        "{}",
        serde_json::json!({
            "impl": "burn",
            "backend": if backend == "ndarray" { "ndarray" } else { cllm_backend::backend_name() },
            "preset": preset, "decoder": decoder, "batch": batch, "L": l, "vocab": data.vocab.len(),
            "params": report.params, "step_s": step_s,
            "tokens_per_s": (batch * l) as f64 / step_s, "steps_timed": timed,
            "last_loss": h[h.len() - 1].loss,
        })
    );
    Ok(())
}

fn run<B: burn::tensor::backend::AutodiffBackend>(
    data: &TrainData,
    opts: &TrainOptions,
    dir: &tempfile::TempDir,
) -> Result<cllm_autoencoder::TrainReport, cllm_autoencoder::AutoencoderError> {
    train::<B>(
        data,
        opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
}
