//! Quick one-shot timing of all-points k-NN (k = 10), k-d tree vs brute force, by dimension,
//! on uniform points — to locate where the k-d tree stops paying off. The criterion bench
//! (`cargo bench -p cllm-void --bench void_bench -- crossover`) measures the same with
//! statistics; this example is the fast look.
//!
//! ```text
//! cargo run --release -p cllm-void --example knn_crossover -- [n] [dims...]
//! ```
//!
//! `CLLM_VOID_SEED` sets the data seed (default 7). With `CLLM_VOID_ONLY=kdtree` or
//! `CLLM_VOID_ONLY=brute` only that structure is timed (for
//! `time`-ing one of them: under contention, user CPU time is the fairer figure).

use std::time::Instant;

use cllm_void::{uniform_cube, IndexKind, KnnIndex};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(20_000), |s| s.parse())?;
    let dims: Vec<usize> = if args.len() > 2 {
        args[2..]
            .iter()
            .map(|s| s.parse())
            .collect::<Result<_, _>>()?
    } else {
        vec![2, 4, 8, 12, 16, 20, 24, 32]
    };
    // The bench's 100k data file is `uniform_cube(100_000, 16, 42)`: CLLM_VOID_SEED=42 reproduces it.
    let seed: u64 = std::env::var("CLLM_VOID_SEED").map_or(Ok(7), |s| s.parse())?;
    println!("data seed {seed}");
    println!(
        "n = {n}, k = 10, uniform points, {} rayon threads",
        rayon::current_num_threads()
    );
    println!(
        "{:>4} {:>12} {:>12} {:>8}",
        "dim", "kdtree s", "brute s", "winner"
    );
    for dim in dims {
        let points = uniform_cube(n, dim, seed)?;
        let mut t = [f64::NAN; 2];
        let mut mean = [f64::NAN; 2];
        let only = std::env::var("CLLM_VOID_ONLY").unwrap_or_default();
        for (slot, kind) in [IndexKind::KdTree, IndexKind::BruteForce]
            .into_iter()
            .enumerate()
        {
            if (only == "brute" && slot == 0) || (only == "kdtree" && slot == 1) {
                continue;
            }
            let start = Instant::now();
            let idx = KnnIndex::build(points.clone(), kind)?;
            let table = idx.knn_all(10)?;
            t[slot] = start.elapsed().as_secs_f64();
            mean[slot] = table.kth_distances().iter().map(|&d| d as f64).sum::<f64>() / n as f64;
        }
        assert!(
            !only.is_empty() || (mean[0] - mean[1]).abs() < 1e-4 * mean[0],
            "kd-tree and brute force disagree"
        );
        println!(
            "mean distance to the 10th neighbour: {:.6}",
            mean[if only == "kdtree" { 0 } else { 1 }]
        );
        println!(
            "{dim:>4} {:>12.3} {:>12.3} {:>8}",
            t[0],
            t[1],
            if !only.is_empty() {
                "-"
            } else if t[0] <= t[1] {
                "kdtree"
            } else {
                "brute"
            }
        );
    }
    Ok(())
}
