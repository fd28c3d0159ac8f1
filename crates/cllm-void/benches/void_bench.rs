//! Benchmarks of cllm-void (run: `cargo bench -p cllm-void --bench void_bench [-- FILTER]`).
//!
//! - `knn_all_100k_16d`: k = 10 neighbours of all of 100,000 uniform points in 16-D
//!   (build + query), to compare with `scripts/void_knn_reference.py` (scikit-learn) on the
//!   same data: the points are written to `$CLLM_VOID_BENCH_DATA`
//!   (default `/tmp/cllm_void_knn_100k_16d.safetensors`, tensor `points`).
//! - `crossover`: k-d tree vs brute force, 20,000 uniform points, k = 10, by dimension.
//! - `empty_ball`: hill-climbed search vs plain Monte-Carlo with 10x the candidates; the
//!   radius ratio is printed once per dataset.

use std::collections::HashMap;
use std::path::PathBuf;

use cllm_void::{
    monte_carlo_best_ball, null_points, search_empty_balls, uniform_cube, BallSearchOptions,
    IndexKind, KnnIndex, NullModel, PlantedHole, PointSet,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn bench_data_path() -> PathBuf {
    std::env::var_os("CLLM_VOID_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/cllm_void_knn_100k_16d.safetensors"))
}

fn write_points(points: &PointSet, path: &std::path::Path) {
    let bytes: Vec<u8> = points
        .as_flat()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let view = safetensors::tensor::TensorView::new(
        safetensors::Dtype::F32,
        vec![points.len(), points.dim()],
        &bytes,
    )
    .unwrap();
    let meta: HashMap<String, String> = [(
        "generator".to_string(),
        "uniform_cube(100000, 16, 42)".to_string(),
    )]
    .into();
    let out = safetensors::serialize([("points", view)], Some(meta)).unwrap();
    cllm_core::write_atomic(path, &out).unwrap();
}

fn knn_all_100k_16d(c: &mut Criterion) {
    let points = uniform_cube(100_000, 16, 42).unwrap();
    write_points(&points, &bench_data_path());
    let mut g = c.benchmark_group("knn_all_100k_16d");
    g.sample_size(10);
    // IndexKind::Auto picks the brute-force scan in 16-D (the k-d tree is ~4x slower there,
    // see `examples/knn_crossover.rs`).
    g.bench_function("auto_build_and_query_k10", |b| {
        b.iter(|| {
            let idx = KnnIndex::build(points.clone(), IndexKind::Auto).unwrap();
            idx.knn_all(10).unwrap()
        })
    });
    g.finish();
}

fn crossover(c: &mut Criterion) {
    let mut g = c.benchmark_group("crossover");
    g.sample_size(10);
    for dim in [4usize, 8, 12, 16] {
        let points = uniform_cube(20_000, dim, 7).unwrap();
        for kind in [IndexKind::KdTree, IndexKind::BruteForce] {
            let idx = KnnIndex::build(points.clone(), kind).unwrap();
            g.bench_with_input(
                BenchmarkId::new(format!("{kind:?}"), dim),
                &idx,
                |b, idx| b.iter(|| idx.knn_all(10).unwrap()),
            );
        }
    }
    g.finish();
}

fn empty_ball(c: &mut Criterion) {
    let planted = PlantedHole::new(20_000, 16)
        .with_seed(5)
        .generate()
        .unwrap()
        .points;
    let gaussian = null_points(
        &uniform_cube(20_000, 16, 9).unwrap(),
        NullModel::Gaussian,
        9,
    )
    .unwrap();
    let mut g = c.benchmark_group("empty_ball");
    g.sample_size(10);
    for (name, points) in [("planted_16d_20k", planted), ("gaussian_16d_20k", gaussian)] {
        let idx = KnnIndex::build(points, IndexKind::Auto).unwrap();
        let ours = BallSearchOptions {
            candidates: 2_000,
            climbers: 32,
            seed: 1,
            ..Default::default()
        };
        let mc = BallSearchOptions {
            candidates: 20_000,
            seed: 1,
            ..Default::default()
        };
        let best = search_empty_balls(&idx, &ours)
            .unwrap()
            .first()
            .map_or(0.0, |b| b.radius);
        let mc_best = monte_carlo_best_ball(&idx, &mc)
            .unwrap()
            .map_or(0.0, |b| b.radius);
        println!(
            "empty_ball/{name}: hill-climbed best radius {best:.4} (2,000 candidates) vs Monte-Carlo {mc_best:.4} \
             (20,000 candidates): ratio {:.3}",
            best / mc_best
        );
        g.bench_function(BenchmarkId::new("hill_climbed_2k", name), |b| {
            b.iter(|| search_empty_balls(&idx, &ours).unwrap())
        });
        g.bench_function(BenchmarkId::new("monte_carlo_20k", name), |b| {
            b.iter(|| monte_carlo_best_ball(&idx, &mc).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, knn_all_100k_16d, crossover, empty_ball);
criterion_main!(benches);
