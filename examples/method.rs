//! The whole method from Rust, on a small budget: hold pizza out, train CLLM1 on the other
//! recipes, find the void zones of its training vectors, read CLLM2's codes with CLLM1's
//! decoder, decode samples of the voids, and write the report. `cllm experiment` runs the
//! same library call with every option; this is the shape of it.
//!
//! ```text
//! cargo run --release --example method -- [FAMILY] [MINUTES] [OUT]
//! # defaults: pizza, 3 minutes of CLLM1 training, runs/example-method
//! ```
//! Running it again reuses every finished step.

use cllm::autoencoder::{CllmConfig, DefaultTrainBackend, RunControl, SplitOptions, TrainOptions};
use cllm::backbone::{device, LlamaBackbone};
use cllm::corpus::{fetch_assets, load_corpus, FetchOptions};
use cllm::eval::experiment::{run_experiment, ExperimentOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let family = args.first().cloned().unwrap_or_else(|| "pizza".into());
    let minutes: f64 = args.get(1).map(|m| m.parse()).transpose()?.unwrap_or(3.0);
    let out = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| "runs/example-method".into());

    // 1. text → matrix: the default assets, the recipe corpus, SmolLM2 as the backbone
    let paths = fetch_assets(&FetchOptions::default())?;
    let mut corpus = load_corpus(&paths)?;
    corpus.focus_groups(std::slice::from_ref(&family));
    let dev = device::default_device()?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;

    // 2. matrix → vector: CLLM1, a small autoregressive CLLM, with the family held out
    let cllm1 = TrainOptions {
        model: CllmConfig::preset("cpu-k16")?,
        batch_size: 16,
        learning_rate: 2e-3,
        warmup_steps: 30,
        max_steps: 600,
        time_budget_s: Some(minutes * 60.0),
        eval_every: 100,
        eval_max_texts: 64,
        split: SplitOptions {
            held_out_families: vec![family.clone()],
            val_fraction: 0.05,
            seed: 0,
        },
        ..Default::default()
    };

    // 3–6. store → zones → vectors → text, and the test of the method
    let mut opts = ExperimentOptions::new(&family, cllm1);
    opts.finetune_time_s = Some((minutes * 10.0).max(5.0)); // 30 s for the default 3 min
    opts.code_fit.steps = 30;
    opts.texts_per_split = 24;
    opts.samples = 12;
    let report = run_experiment::<DefaultTrainBackend>(
        &opts,
        out.as_ref(),
        &backbone,
        &[],  // or [SentenceBaseline { .. }] for a MiniLM baseline space
        None, // or Some(&backbone) with opts.guided_lm_weight = 0.5 for guided readings
        corpus.documents(),
        &dev,
        &RunControl::default(),
    )?;

    // 7. what it found
    for s in &report.separation {
        let a = &s.auroc;
        println!(
            "{:<42} void AUROC {:.3} [{:.3}, {:.3}]",
            s.space, a.estimate, a.low, a.high
        );
    }
    for r in &report.readings {
        let reads = r
            .cross_decoding
            .reads_as_family
            .as_ref()
            .map_or(0.0, |i| i.estimate);
        println!(
            "{:<58} reads as {family}: {:>5.1}%",
            r.description,
            100.0 * reads
        );
    }
    println!(
        "report: {out}/report.md, {out}/report.html ({:.0} s)",
        report.wall_s
    );
    Ok(())
}
