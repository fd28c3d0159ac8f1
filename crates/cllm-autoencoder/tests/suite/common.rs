//! Shared fixtures: a toy corpus over a random embedding table.
#![allow(dead_code)]

use cllm_autoencoder::{CachedText, CllmConfig, StageConfig, TokenCache, TrainData, TrainOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The CPU backends' RNG (NdArray's, Flex's) is process-global: tests that train hold this lock so that concurrent
/// tests do not draw from it in between (training is reproducible one run at a time).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reports a skipped test on the terminal's stderr directly: libtest captures `eprintln!`
/// of passing tests, so a skip printed that way would pass silently.
pub fn skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
}

pub const VOCAB: usize = 48;
pub const WIDTH: usize = 16;
pub const MAX_LEN: usize = 16;
pub const PAD: u32 = 0;

/// A seeded random embedding table `[VOCAB × WIDTH]`.
pub fn table(seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..VOCAB * WIDTH)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

/// `n` random texts of 4..=max tokens over ids 1..VOCAB, families cycling a/b/c.
pub fn texts(n: usize, max: usize, seed: u64) -> Vec<CachedText> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let len = rng.random_range(4..=max);
            let ids: Vec<u32> = (0..len)
                .map(|_| rng.random_range(1..VOCAB as u32))
                .collect();
            CachedText {
                id: format!("t{i}"),
                family: Some(["a", "b", "c"][i % 3].to_string()),
                ids,
                full_len: len,
            }
        })
        .collect()
}

pub fn data(n: usize, seed: u64) -> TrainData {
    let cache = TokenCache::from_texts("toy", MAX_LEN, PAD, texts(n, MAX_LEN - 2, seed)).unwrap();
    TrainData::new(cache, None, &table(7), WIDTH).unwrap()
}

/// A tiny model: L=16, d=16, width 32, one stage of 1 layer merging 4, k = 8.
pub fn tiny_config() -> CllmConfig {
    CllmConfig::new(WIDTH, MAX_LEN, 32, 8, vec![StageConfig::new(1, 4, 32)]).with_heads(2)
}

pub fn quiet_options() -> TrainOptions {
    TrainOptions {
        model: tiny_config(),
        batch_size: 8,
        max_steps: 6,
        warmup_steps: 2,
        eval_every: 0,
        checkpoint_every: 0,
        progress: false,
        log_every: 0,
        split: cllm_autoencoder::SplitOptions {
            held_out_families: vec![],
            val_fraction: 0.2,
            seed: 0,
        },
        ..Default::default()
    }
}

/// A tiny CLLM with the autoregressive decoder (width 64, 2 layers, 2 prefix vectors, no
/// word dropout) over the toy table.
pub fn ar_config() -> cllm_autoencoder::CllmConfig {
    use cllm_autoencoder::{ArDecoderConfig, CllmConfig, StageConfig};
    CllmConfig::new(WIDTH, MAX_LEN, 64, 32, vec![StageConfig::new(1, 4, 64)])
        .with_heads(4)
        .with_ar_decoder(ArDecoderConfig {
            width: 64,
            layers: 2,
            heads: 4,
            prefix: 2,
            word_dropout: 0.0,
        })
}
