//! The method's own test, end to end (`cllm experiment`): hold a family out, train CLLM1 on
//! the rest, find the void zones of CLLM1's training vectors, and ask whether the family
//! lands in them and whether CLLM1's decoder can express it.
//!
//! [`run_experiment`] reads like the protocol:
//!
//! 1. **CLLM1** trained with the family held out ([`cllm_autoencoder::run_train_job`];
//!    resumable, and skipped when its `eval.json` is there);
//! 2. the **split** read back from the run's token cache: training texts, validation texts
//!    (never trained on) and the family's texts;
//! 3. **void zones** of the training vectors only, with the null test ([`voids`]);
//! 4. **membership**: zone membership and the k-NN void-score AUROC (bootstrap 95%
//!    interval) of the family against validation texts, in CLLM1's space and in the
//!    baseline spaces: the backbone's mean-pooled token embeddings and, when given, a
//!    sentence encoder's vectors such as MiniLM ([`membership`], [`baseline`]);
//! 5. **readings of CLLM2** ([`readings`]): (a) the whole CLLM1 fine-tuned on the family,
//!    (b) its encoder only (CLLM1's decoder frozen), (c) no CLLM2, each family text's code
//!    fitted through CLLM1's frozen decoder; each reading's codes are scored for membership
//!    and **cross-decoded** by CLLM1's decoder (does the decode read as the family?);
//! 6. **discovery** without CLLM2: samples from the top void zones against random, near-data
//!    and midpoint samples, decoded by CLLM1, counted when they read as the family
//!    ([`discovery`]);
//! 7. the **report**: `report.json`, `report.md`, SVG figures and `report.html`
//!    ([`report`]).
//!
//! Every step writes its result into the output folder before the next starts; running the
//! same experiment again reuses them.
//!
//! [`sweep::run_sweep`] runs steps 1–4 once per text-vector size `k` (with and without the
//! clustering and smoothness terms): the dimension sweep.

pub mod baseline;
pub mod discovery;
pub mod membership;
mod progress;
pub mod readings;
pub mod report;
pub mod split;
pub mod sweep;
pub mod voids;

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use cllm_autoencoder::code_fit::CodeFitOptions;
use cllm_autoencoder::{
    run_train_job, Cllm, JobReport, OverLength, RunControl, TrainJob, TrainOptions,
};
use cllm_core::{Backbone, Document};
use cllm_void::VoidSearchOptions;
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
pub use baseline::{SentenceBaseline, SentenceSpace};
pub use discovery::{Discovery, SourceCount};
pub use membership::{Membership, SpaceSeparation};
pub use readings::{CrossDecoding, Reading, ReadingResult};
pub use split::ExperimentSplit;
pub use sweep::{run_sweep, SweepArm, SweepOptions, SweepReport};

/// Everything an experiment needs besides the backbone and the corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentOptions {
    /// The held-out family (a group of the corpus, e.g. `pizza`).
    pub family: String,
    /// CLLM1's training run; its split holds `family` out.
    pub cllm1: TrainOptions,
    /// The readings of CLLM2 to run.
    pub readings: Vec<Reading>,
    /// Fine-tuning of readings (a) and (b): steps and wall-clock budget.
    pub finetune_steps: usize,
    /// Wall-clock budget of each fine-tuning, seconds.
    pub finetune_time_s: Option<f64>,
    /// Peak learning rate of the fine-tunings.
    pub finetune_lr: f64,
    /// Share of every fine-tuning batch replayed from CLLM1's training texts (reading a).
    pub replay_fraction: f64,
    /// Reading (c): how codes are fitted.
    pub code_fit: CodeFitOptions,
    /// The void search (and its null test).
    pub voids: VoidSearchOptions,
    /// Family and validation texts scored, at most (seeded sample).
    pub texts_per_split: usize,
    /// Samples per source in the discovery step.
    pub samples: usize,
    /// Bootstrap resamples of every interval.
    pub bootstrap: usize,
    /// Neighbours of the k-NN void score.
    pub knn: usize,
    /// Seed of every draw of the experiment (the runs keep their own).
    pub seed: u64,
    /// Progress bars on the long steps (encoding, the void search, decoding), shown when
    /// stderr is a terminal. CLLM1's training has its own (`cllm1.progress`).
    #[serde(default)]
    pub progress: bool,
    /// Texts over CLLM1's `max_len` tokens: cut and counted (the default) or refused.
    #[serde(default, skip_serializing_if = "OverLength::is_cut")]
    pub over_length: OverLength,
}

impl ExperimentOptions {
    /// The defaults around a CLLM1 run: all three readings, 96 fine-tuning steps within
    /// 90 s at lr 5e-4 with a quarter replayed, 64 texts per split, 24 samples per source,
    /// 1,000 bootstrap resamples, 10 neighbours.
    pub fn new(family: impl Into<String>, cllm1: TrainOptions) -> Self {
        let voids = VoidSearchOptions {
            progress: false,
            ..Default::default()
        };
        Self {
            family: family.into(),
            cllm1,
            readings: vec![
                Reading::WholeModel,
                Reading::EncoderOnly,
                Reading::FittedCodes,
            ],
            finetune_steps: 96,
            finetune_time_s: Some(90.0),
            finetune_lr: 5e-4,
            replay_fraction: 0.25,
            code_fit: CodeFitOptions::default(),
            voids,
            texts_per_split: 64,
            samples: 24,
            bootstrap: 1000,
            knn: 10,
            seed: 0,
            progress: false,
            over_length: OverLength::Cut,
        }
    }
}

/// Everything an experiment found (`report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    /// The options.
    pub options: ExperimentOptions,
    /// Texts per part of the split.
    pub split: ExperimentSplit,
    /// CLLM1's training and scores (its `eval.json`).
    pub cllm1: JobReport,
    /// The void zones of CLLM1's training vectors: found, significant.
    pub zones: voids::ZoneSummary,
    /// The family against validation texts in CLLM1's space and in the baseline space.
    pub separation: Vec<SpaceSeparation>,
    /// CLLM1's own codes of the family, and every reading of CLLM2.
    pub readings: Vec<ReadingResult>,
    /// Samples from voids and elsewhere, decoded.
    pub discovery: Discovery,
    /// Wall time of the whole experiment in this session, seconds.
    pub wall_s: f64,
}

/// Runs (or resumes) the experiment into `out_dir` and writes its report there.
/// `sentence` adds a sentence encoder's space (MiniLM) to the baselines of step 4.
///
/// `B` is the autodiff training backend; scoring runs on its inner backend.
#[allow(clippy::too_many_arguments)]
pub fn run_experiment<B: AutodiffBackend>(
    opts: &ExperimentOptions,
    out_dir: &Path,
    backbone: &dyn Backbone,
    sentence: Option<&SentenceBaseline>,
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<ExperimentReport> {
    let start = std::time::Instant::now();
    check(opts)?;
    let cllm1_report = cllm1::<B>(opts, out_dir, backbone, docs, device, control)?;
    let cllm1 = Cllm::<B::InnerBackend>::load(&out_dir.join(CLLM1).join("model"), device)?;
    let split = split::read(opts, &out_dir.join(CLLM1), docs)?;
    tracing::info!(
        train = split.train.len(),
        val = split.val.len(),
        family = split.family.len(),
        "split read back"
    );
    let space = split::encode(&cllm1, &split, opts.progress)?;
    let zones = voids::find_or_load(&space, &split, &opts.voids, out_dir)?;
    let sentences = match sentence {
        Some(b) => Some(baseline::sentence_space(b, &split, out_dir)?),
        None => None,
    };
    let separation = membership::separation(opts, &cllm1, &split, &space, sentences.as_ref())?;
    let readings = readings::run::<B>(
        opts,
        out_dir,
        &cllm1,
        &split,
        &space,
        &zones.report,
        backbone,
        docs,
        device,
        control,
    )?;
    let discovery = discovery::run(opts, &cllm1, &split, &space, &zones.report, backbone)?;
    let report = ExperimentReport {
        options: opts.clone(),
        split: split.counts(),
        cllm1: cllm1_report,
        zones: zones.summary(),
        separation,
        readings,
        discovery,
        wall_s: start.elapsed().as_secs_f64(),
    };
    report::write(&report, &split, &space, &zones.report, out_dir)?;
    Ok(report)
}

/// CLLM1's run directory inside the experiment's.
pub const CLLM1: &str = "cllm1";

pub(crate) fn check(opts: &ExperimentOptions) -> Result<()> {
    if !opts.cllm1.split.held_out_families.contains(&opts.family) {
        return Err(EvalError::InvalidInput(format!(
            "CLLM1's split must hold {:?} out",
            opts.family
        )));
    }
    if opts.texts_per_split == 0 || opts.bootstrap == 0 || opts.knn == 0 {
        return Err(EvalError::InvalidInput(
            "texts_per_split, bootstrap and knn must be positive".into(),
        ));
    }
    Ok(())
}

/// Trains CLLM1 (or resumes it), or reads its report when the run finished before.
pub(crate) fn cllm1<B: AutodiffBackend>(
    opts: &ExperimentOptions,
    out_dir: &Path,
    backbone: &dyn Backbone,
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<JobReport> {
    let mut job = TrainJob::new(opts.cllm1.clone(), out_dir.join(CLLM1));
    job.report_texts = opts.texts_per_split;
    job.over_length = opts.over_length;
    finished_or_run(&job, || {
        Ok(run_train_job::<B>(&job, backbone, docs, device, control)?)
    })
}

/// The report of a finished run with the same options, or the run itself.
pub(crate) fn finished_or_run(
    job: &TrainJob,
    run: impl FnOnce() -> Result<JobReport>,
) -> Result<JobReport> {
    let path: PathBuf = job.out_dir.join(cllm_autoencoder::job::EVAL_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        match serde_json::from_str::<JobReport>(&text) {
            Ok(done) if done.job == *job => {
                tracing::info!(run = %job.out_dir.display(), "finished before; reusing it");
                return Ok(done);
            }
            _ => {
                tracing::info!(run = %job.out_dir.display(), "report from other settings; running")
            }
        }
    }
    run()
}
