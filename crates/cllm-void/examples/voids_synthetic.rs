//! A planted-hole run end to end: synthetic data with a known hole, stored in a vector
//! store, searched with the null test, printed and written as JSON.
//!
//! ```text
//! cargo run --release -p cllm-void --example voids_synthetic -- [dim] [n] [seed]
//! ```

use cllm_core::{Document, TextVector};
use cllm_void::{find_voids, ModelKey, PlantedHole, VectorStore, VoidSearchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dim: usize = args.get(1).map_or(Ok(8), |s| s.parse())?;
    let n: usize = args.get(2).map_or(Ok(1500), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(0), |s| s.parse())?;

    let planted = PlantedHole::new(n, dim).with_seed(seed);
    let data = planted.generate()?;
    println!(
        "planted a hole of radius {} in {n} points ({dim} dims, latent dim {}, noise {})",
        planted.hole_radius, planted.latent_dim, planted.noise
    );

    let dir = tempfile::tempdir()?;
    let mut store = VectorStore::open(&dir.path().join("vectors.sqlite"))?;
    store.create_collection(
        "synthetic",
        &ModelKey::new("planted-hole", dim, format!("seed-{seed}")),
    )?;
    let records = data
        .points
        .rows()
        .enumerate()
        .map(|(i, r)| {
            Ok((
                Document::new(format!("p{i:05}"), ""),
                TextVector::new(r.to_vec())?,
            ))
        })
        .collect::<Result<Vec<_>, cllm_core::CoreError>>()?;
    store.bulk_insert("synthetic", records, 500, true)?;

    let opts = VoidSearchOptions::default();
    let t = std::time::Instant::now();
    let report = find_voids(&store, "synthetic", &opts)?;
    println!("{report}");
    println!(
        "search with {} null runs took {:.2?}",
        opts.null.runs * opts.null.models.len(),
        t.elapsed()
    );

    if let Some(best) = report.zones.first() {
        let off = best
            .zone
            .centre
            .iter()
            .zip(&data.hole_centre)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt();
        println!(
            "top zone: radius {:.4} (planted {}), centre {:.4} from the planted centre",
            best.zone.radius, data.hole_radius, off
        );
    }
    let out = std::env::temp_dir().join("voids_synthetic.json");
    report.write_json_atomic(&out)?;
    println!("wrote {}", out.display());
    Ok(())
}
