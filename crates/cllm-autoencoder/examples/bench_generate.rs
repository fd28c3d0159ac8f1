//! Generation speed of the autoregressive decoder: the key/value-cached loop of
//! `cllm generate` against recomputing the whole prefix at every step.
//!
//! ```sh
//! cargo run --release -p cllm-autoencoder --example bench_generate -- [MODEL_DIR] [TOKENS]
//! ```
//! Without a model directory it times a fresh `cpu-k64` model with the ar decoder (speed
//! does not depend on the weights). Prints tokens/s of both and their ratio.

use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use cllm_autoencoder::{ArDecoderConfig, Cllm, CllmConfig, CllmModel};
use cllm_backend::CpuBackend as B;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next();
    let tokens: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(128);
    let device = Default::default();
    let model = match dir.as_deref() {
        Some(d) => Cllm::<B>::load(std::path::Path::new(d), &device)?
            .model()
            .clone(),
        None => CllmModel::<B>::new(
            &CllmConfig::recipes_cpu(64).with_ar_decoder(ArDecoderConfig::default()),
            &device,
        )?,
    };
    let ar = model
        .autoregressive()
        .ok_or("the model's decoder is not autoregressive")?;
    let batch = 8;
    let d = ar.out.weight.dims()[1];
    let k = model.to_latent.weight.dims()[1];
    let z = Tensor::<B, 2>::random([batch, k], Distribution::Normal(0.0, 1.0), &device);
    let rows = Tensor::<B, 3>::random([batch, tokens, d], Distribution::Normal(0.0, 1.0), &device);

    // cached: one position per step
    let t0 = Instant::now();
    let (mut out, mut state) = ar.start(z.clone());
    for p in 1..tokens {
        let next = rows.clone().narrow(1, p - 1, 1).reshape([batch, d]);
        (out, state) = ar.step(next, state).ok_or("past the decoder's length")?;
    }
    let _ = out.into_data();
    let cached = t0.elapsed().as_secs_f64();

    // full recompute: the whole prefix at every step
    let t0 = Instant::now();
    for p in 1..=tokens {
        let h = ar.forward(z.clone(), rows.clone().narrow(1, 0, p), None);
        let _ = h.narrow(1, p - 1, 1).into_data();
    }
    let full = cached.max(t0.elapsed().as_secs_f64());
    let n = (batch * tokens) as f64;
    println!(
        "{tokens} tokens x {batch} texts: cached {:.0} tokens/s, full recompute {:.0} tokens/s, ratio {:.1}x",
        n / cached,
        n / full,
        full / cached
    );
    Ok(())
}
