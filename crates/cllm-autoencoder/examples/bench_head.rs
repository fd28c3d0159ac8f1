//! Forward + backward time of the tied-head cross-entropy alone, the plain form
//! ([`cllm_autoencoder::loss::tied_head_ce`]) against the chunked form that forms its
//! gradient in the forward pass ([`cllm_autoencoder::head_ce::tied_head_ce_chunked`]), at
//! the size of a `bench_step` batch: 4,096 rows of width 576 against 9,576 candidates.
//!
//! ```text
//! cargo run --release -p cllm-autoencoder --example bench_head            # default backend
//! CLLM_BENCH_BACKEND=ndarray cargo run --release -p cllm-autoencoder --example bench_head
//! ```
//! One warm-up and 3 timed runs per form; prints one JSON line per form (median seconds).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use cllm_autoencoder::head_ce::{tied_head_ce_chunked, DEFAULT_CHUNK_LOGITS};
use cllm_autoencoder::loss::tied_head_ce;
use cllm_autoencoder::DefaultTrainBackend;

fn main() {
    match std::env::var("CLLM_BENCH_BACKEND").as_deref() {
        Ok("ndarray") => bench::<Autodiff<NdArray>>("ndarray"),
        _ => bench::<DefaultTrainBackend>(cllm_backend::backend_name()),
    }
}

fn bench<B: AutodiffBackend>(backend: &str) {
    let dev = Default::default();
    let (n, c, d) = (4096usize, 9576usize, 576usize);
    let cand = Tensor::<B, 2>::random([c, d], Distribution::Normal(0.0, 0.05), &dev);
    let rows0 = Tensor::<B, 2>::random([n, d], Distribution::Normal(0.0, 0.05), &dev);
    let ids: Vec<i64> = (0..n as i64).map(|i| (i * 7) % c as i64).collect();
    let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [n]), &dev);
    for form in ["plain", "chunked"] {
        let mut times = Vec::new();
        let mut loss_value = 0.0f32;
        for run in 0..4 {
            let rows = Tensor::<B, 2>::from_inner(rows0.clone().inner()).require_grad();
            let scale = Tensor::<B, 1>::from_data([3.0f32], &dev).require_grad();
            let t0 = Instant::now();
            let loss = if form == "plain" {
                tied_head_ce(rows.clone(), cand.clone(), scale, targets.clone()).0
            } else {
                let t = targets.clone();
                tied_head_ce_chunked(rows.clone(), cand.clone(), scale, t, DEFAULT_CHUNK_LOGITS).0
            };
            loss_value = loss
                .clone()
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .unwrap()[0];
            let grads = loss.backward();
            let _ = rows.grad(&grads).map(|g| g.into_data());
            if run > 0 {
                times.push(t0.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "head": form, "backend": backend, "rows": n, "candidates": c, "width": d,
                "median_s": times[times.len() / 2], "loss": loss_value,
            })
        );
    }
}
