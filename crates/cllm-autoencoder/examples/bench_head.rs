//! Forward + backward time of the tied-head cross-entropy alone, the plain form
//! ([`cllm_autoencoder::loss::tied_head_ce`]) against the chunked form that forms its
//! gradient in the forward pass, in burn operations
//! ([`cllm_autoencoder::head_ce::tied_head_ce_chunked_generic`]) and as training runs it
//! ([`cllm_autoencoder::head_ce::tied_head_ce_chunked`]: the host form on the CPU backends),
//! at the size of a `bench_step` batch: 4,096 rows of width 576 against 9,576 candidates.
//!
//! ```text
//! cargo run --release -p cllm-autoencoder --example bench_head            # default backend
//! CLLM_BENCH_BACKEND=ndarray cargo run --release -p cllm-autoencoder --example bench_head
//! ```
//! One warm-up and 3 timed runs per form; prints one JSON line per form (median seconds).
//! Arguments name the forms to run (`plain`, `chunked-burn`, `chunked`; all by default);
//! `CLLM_BENCH_CHUNK_LOGITS` sets the logits per chunk (default
//! [`DEFAULT_CHUNK_LOGITS`](cllm_autoencoder::head_ce::DEFAULT_CHUNK_LOGITS)).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use cllm_autoencoder::head_ce::{
    tied_head_ce_chunked, tied_head_ce_chunked_generic, DEFAULT_CHUNK_LOGITS,
};
use cllm_autoencoder::loss::tied_head_ce;
use cllm_autoencoder::DefaultTrainBackend;

fn main() {
    match std::env::var("CLLM_BENCH_BACKEND").as_deref() {
        Ok("ndarray") => bench::<Autodiff<NdArray>>("ndarray"),
        _ => bench::<DefaultTrainBackend>(cllm_backend::backend_name()),
    }
}

/// CPU seconds this process has used, all threads (Linux; 0 elsewhere): on a shared
/// machine a steadier measure of the work than wall time.
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields 14 and 15 (utime, stime, in clock ticks of 1/100 s), counted after the
    // parenthesised command name
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let ticks: Vec<f64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

fn bench<B: AutodiffBackend>(backend: &str) {
    let dev = Default::default();
    let (n, c, d) = (4096usize, 9576usize, 576usize);
    let cand = Tensor::<B, 2>::random([c, d], Distribution::Normal(0.0, 0.05), &dev);
    let rows0 = Tensor::<B, 2>::random([n, d], Distribution::Normal(0.0, 0.05), &dev);
    let ids: Vec<i64> = (0..n as i64).map(|i| (i * 7) % c as i64).collect();
    let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [n]), &dev);
    let chunk = std::env::var("CLLM_BENCH_CHUNK_LOGITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CHUNK_LOGITS);
    let picked: Vec<String> = std::env::args().skip(1).collect();
    for form in ["plain", "chunked-burn", "chunked"] {
        if !picked.is_empty() && !picked.iter().any(|p| p == form) {
            continue;
        }
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut loss_value = 0.0f32;
        for run in 0..4 {
            let rows = Tensor::<B, 2>::from_inner(rows0.clone().inner()).require_grad();
            let scale = Tensor::<B, 1>::from_data([3.0f32], &dev).require_grad();
            let t0 = Instant::now();
            let c0 = process_cpu_s();
            let (r, c, t) = (rows.clone(), cand.clone(), targets.clone());
            let loss = match form {
                "plain" => tied_head_ce(r, c, scale, t).0,
                "chunked-burn" => tied_head_ce_chunked_generic(r, c, scale, t, chunk).0,
                _ => tied_head_ce_chunked(r, c, scale, t, chunk).0,
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
                cpu.push(process_cpu_s() - c0);
            }
        }
        times.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        println!(
            "{}",
            serde_json::json!({
                "head": form, "backend": backend, "rows": n, "candidates": c, "width": d,
                "chunk_logits": chunk, "median_s": times[times.len() / 2], "median_cpu_s": cpu[cpu.len() / 2], "loss": loss_value,
            })
        );
    }
}
