//! Writes a sample report (report.html, report.json and the SVG figures) built from
//! synthetic, seeded vectors, to see and check the report layer without training anything:
//!
//! ```text
//! cargo run --release -p cllm-eval --example report_sample -- target/report-sample
//! python3 scripts/check_report_html.py target/report-sample
//! ```
//!
//! The vectors: three "dish" clusters of training texts, validation texts from the same
//! clusters, and a held-out "pizza" family placed away from them (in a void), in 16-D.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use cllm_eval::{
    bootstrap_auroc, html_page, interval_bars, line_chart, scatter_map, Block, InteractiveMap,
    InteractivePoint, InteractiveZone, IntervalBar, MapCircle, MapPoint, Pca2, Section, Series,
    Table, ZoneSample,
};

const DIM: usize = 16;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/report-sample".into())
        .into();
    std::fs::create_dir_all(&out)?;
    let mut rng = ChaCha8Rng::seed_from_u64(11);

    // texts: (group, title, vector)
    let mut texts: Vec<(&str, String, Vec<f32>)> = Vec::new();
    for (c, dish) in ["soup", "salad", "bread"].iter().enumerate() {
        let centre = cluster_centre(c as f32 * 2.1, 1.0);
        for i in 0..60 {
            texts.push((
                "train",
                format!("{dish} {i}"),
                jitter(&centre, 0.5, &mut rng),
            ));
        }
        for i in 0..10 {
            let title = format!("{dish} (validation) {i}");
            texts.push(("validation", title, jitter(&centre, 0.5, &mut rng)));
        }
    }
    let pizza_centre = cluster_centre(1.0, -1.6);
    for i in 0..26 {
        let title = format!("pizza <{i}> & co");
        texts.push(("pizza", title, jitter(&pizza_centre, 0.35, &mut rng)));
    }

    let train: Vec<Vec<f32>> = group_vectors(&texts, "train");
    let pca = Pca2::fit(&train)?;
    let ratio = pca.explained_variance_ratio();
    let xy: Vec<[f64; 2]> = texts
        .iter()
        .map(|(_, _, v)| pca.project(v))
        .collect::<Result<_, _>>()?;

    // void score: distance to the nearest training vector
    let score = |v: &[f32]| -> f64 {
        train
            .iter()
            .map(|t| distance(t, v))
            .fold(f64::INFINITY, f64::min)
    };
    let family: Vec<f64> = group_vectors(&texts, "pizza")
        .iter()
        .map(|v| score(v))
        .collect();
    let validation: Vec<f64> = group_vectors(&texts, "validation")
        .iter()
        .map(|v| score(v))
        .collect();
    let cllm = bootstrap_auroc(&family, &validation, 1000, 1)?;
    let first_coordinate = |g: &str| -> Vec<f64> {
        group_vectors(&texts, g)
            .iter()
            .map(|v| f64::from(v[0]))
            .collect()
    };
    let baseline = bootstrap_auroc(
        &first_coordinate("pizza"),
        &first_coordinate("validation"),
        1000,
        1,
    )?;

    let zone_centre = pca.project(&pizza_centre)?;
    let zones: Vec<InteractiveZone> = [zone_centre, [3.2, 2.4], [-3.0, -2.2]]
        .iter()
        .enumerate()
        .map(|(z, c)| InteractiveZone {
            x: c[0],
            y: c[1],
            r: 0.9,
            label: format!("zone {} (score {:.2})", z + 1, 2.5 - z as f64 * 0.4),
            samples: (0..4)
                .map(|s| ZoneSample {
                    x: c[0] + 0.4 * (s as f64 * 1.7).cos(),
                    y: c[1] + 0.4 * (s as f64 * 1.7).sin(),
                    decoded: format!(
                        "decoded sample {s} of zone {}: a <new> dish & \"sauce\"",
                        z + 1
                    ),
                })
                .collect(),
        })
        .collect();
    let map = InteractiveMap {
        points: texts
            .iter()
            .zip(&xy)
            .map(|((group, title, _), p)| InteractivePoint {
                x: p[0],
                y: p[1],
                group: group.to_string(),
                title: title.clone(),
                original: (*group != "train").then(|| format!("The text of {title}.")),
                decoded: (*group != "train").then(|| format!("The decode of {title}.")),
            })
            .collect(),
        zones,
    };

    let axis_labels = [
        format!("PC 1 ({:.0}%)", ratio[0] * 100.0),
        format!("PC 2 ({:.0}%)", ratio[1] * 100.0),
    ];
    let map_svg = scatter_map(
        "Latent map (PCA of the training vectors)",
        [&axis_labels[0], &axis_labels[1]],
        &map.points
            .iter()
            .map(|p| MapPoint {
                x: p.x,
                y: p.y,
                group: p.group.clone(),
                label: p.title.clone(),
            })
            .collect::<Vec<_>>(),
        &map.zones
            .iter()
            .map(|z| MapCircle {
                x: z.x,
                y: z.y,
                r: z.r,
                label: z.label.clone(),
            })
            .collect::<Vec<_>>(),
    );
    let bar = |label: &str, i: &cllm_eval::Interval| IntervalBar {
        label: label.into(),
        value: i.estimate,
        low: i.low,
        high: i.high,
    };
    let auroc_svg = interval_bars(
        "Void-score AUROC, pizza vs validation (95% bootstrap interval)",
        "AUROC",
        &[bar("CLLM k=16", &cllm), bar("first coordinate", &baseline)],
        Some(0.5),
    );
    let curve = |name: &str, scale: f64| Series {
        name: name.into(),
        points: (0..20)
            .map(|e| (e as f64, scale * (3.0 * (-(e as f64) / 6.0).exp() + 0.4)))
            .collect(),
    };
    let training_svg = line_chart(
        "Training",
        "epoch",
        "loss",
        &[curve("train", 1.0), curve("validation", 1.15)],
    );

    let data = json!({
        "family": "pizza",
        "note": "synthetic sample: seeded vectors, not a trained model",
        "void_auroc": {"cllm": cllm, "first_coordinate": baseline},
        "explained_variance_ratio": ratio,
        "map": map,
    });
    let interval =
        |i: &cllm_eval::Interval| format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.low, i.high);
    let sections = vec![
        Section {
            heading: "Latent map".into(),
            blocks: vec![
                Block::Paragraph("Synthetic sample: three dish clusters, validation texts, and a held-out family placed in a void.".into()),
                Block::InteractiveMap,
                Block::Figure { caption: "The same map as a static figure.".into(), svg: map_svg.clone() },
            ],
        },
        Section {
            heading: "Void membership".into(),
            blocks: vec![
                Block::Table(Table {
                    title: "Void-score AUROC, pizza vs validation".into(),
                    header: vec!["space".into(), "AUROC [95% interval]".into(), "AUROC".into()],
                    rows: vec![
                        vec!["CLLM k=16".into(), interval(&cllm), format!("{:.3}", cllm.estimate)],
                        vec!["first coordinate".into(), interval(&baseline), format!("{:.3}", baseline.estimate)],
                    ],
                }),
                Block::Figure { caption: "AUROC with 95% intervals; dashed: chance.".into(), svg: auroc_svg.clone() },
            ],
        },
        Section {
            heading: "Training".into(),
            blocks: vec![Block::Figure { caption: "Loss per epoch.".into(), svg: training_svg.clone() }],
        },
    ];
    let page = html_page("Sample report: pizza held out", &sections, &data)?;

    write(
        &out.join("report.json"),
        &serde_json::to_string_pretty(&data)?,
    )?;
    write(&out.join("report.html"), &page)?;
    write(&out.join("map.svg"), &map_svg)?;
    write(&out.join("auroc.svg"), &auroc_svg)?;
    write(&out.join("training.svg"), &training_svg)?;
    println!(
        "wrote {}/report.html (and report.json, map.svg, auroc.svg, training.svg)",
        out.display()
    );
    Ok(())
}

fn cluster_centre(a: f32, b: f32) -> Vec<f32> {
    (0..DIM)
        .map(|j| ((j as f32 + 1.0) * a).sin() * 2.0 + b * (j % 3) as f32)
        .collect()
}

fn jitter(centre: &[f32], spread: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    centre
        .iter()
        .map(|c| c + spread * (rng.random::<f32>() + rng.random::<f32>() - 1.0))
        .collect()
}

fn group_vectors(texts: &[(&str, String, Vec<f32>)], group: &str) -> Vec<Vec<f32>> {
    texts
        .iter()
        .filter(|t| t.0 == group)
        .map(|t| t.2.clone())
        .collect()
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn write(path: &Path, text: &str) -> std::io::Result<()> {
    cllm_core::write_atomic(path, text.as_bytes())
}
