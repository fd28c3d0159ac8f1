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
//!    sentence encoder's vectors such as MiniLM ([`membership`], [`baseline`]), overall and
//!    within each source (so that a style difference cannot pass for a void); the zones'
//!    bounding texts by source and family;
//! 4b. the **content-based family scorer** ([`crate::likeness`]): fitted on every corpus
//!    text with every family's name words masked, for evaluation only;
//! 5. **readings of CLLM2** ([`readings`]): (a) the whole CLLM1 fine-tuned on the family,
//!    (b) its encoder only (CLLM1's decoder frozen), (c) no CLLM2, each family text's code
//!    fitted through CLLM1's frozen decoder; each reading's codes are scored for membership
//!    and **cross-decoded** by CLLM1's decoder (does the decode read as the family by its
//!    content, and does it name it?);
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
use cllm_core::{Backbone, Document, LanguageModel};
use cllm_void::VoidSearchOptions;
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::likeness::{
    cross_validate, masked_names, CrossValidated, FamilyLikeness, LikenessOptions,
};
use crate::metrics::{bootstrap_mean, Interval};
use crate::realism::{realism_options, two_sample_test};
pub use baseline::{SentenceBaseline, SentenceSpace};
pub use discovery::{Discovery, SourceCount};
pub use membership::{Membership, SpaceSeparation};
pub use readings::{CrossDecoding, Reading, ReadingResult};
pub use split::ExperimentSplit;
use split::Split;
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
    /// λ of the base LLM's guidance for a second decoding of every reading (0 = only the
    /// plain decodes; needs a language model, see [`run_experiment`]).
    #[serde(default)]
    pub guided_lm_weight: f32,
    /// Training texts (a seeded sample) that every space's void scores in the separation
    /// table are measured against; all of them when the split has fewer. A sample keeps the
    /// sentence encoders' cost to the texts the scoring reads.
    #[serde(default = "default_reference_texts")]
    pub reference_texts: usize,
}

/// The reference sample's size for reports written before it was an option: every
/// training text (what they were measured against).
fn default_reference_texts() -> usize {
    usize::MAX
}

/// The reference sample of a new experiment: 600 training texts.
pub const DEFAULT_REFERENCE_TEXTS: usize = 600;

impl ExperimentOptions {
    /// The defaults around a CLLM1 run: all three readings, 96 fine-tuning steps within
    /// 90 s at lr 5e-4 with a quarter replayed, 64 texts per split, 24 samples per source,
    /// 1,000 bootstrap resamples, 10 neighbours, a reference sample of 600 training texts.
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
            guided_lm_weight: 0.0,
            reference_texts: DEFAULT_REFERENCE_TEXTS,
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
    /// The content-based family scorer ([`crate::likeness`]) on real texts: its
    /// cross-validated AUROC with names masked, and the mean P(family) of the family's real
    /// texts (the ceiling of every decode's score) and of validation texts. `None` when it
    /// could not be fitted (too few family texts), or in reports written before it existed.
    #[serde(default)]
    pub family_likeness: Option<LikenessSummary>,
    /// Wall time of the whole experiment in this session, seconds.
    pub wall_s: f64,
}

/// Runs (or resumes) the experiment into `out_dir` and writes its report there.
/// `baselines` add sentence encoders' spaces (MiniLM, a backbone layer) to the baseline
/// spaces of step 4, each encoding only the texts the scoring reads; `lm`
/// (the backbone as a language model) guides the second decoding of every reading when
/// `opts.guided_lm_weight` > 0.
///
/// `B` is the autodiff training backend; scoring runs on its inner backend.
#[allow(clippy::too_many_arguments)]
pub fn run_experiment<B: AutodiffBackend>(
    opts: &ExperimentOptions,
    out_dir: &Path,
    backbone: &dyn Backbone,
    baselines: &[SentenceBaseline],
    lm: Option<&dyn LanguageModel>,
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<ExperimentReport> {
    let start = std::time::Instant::now();
    check(opts)?;
    let _writer = cllm_core::FolderLock::acquire(out_dir)?;
    if opts.guided_lm_weight > 0.0 && lm.is_none() {
        return Err(EvalError::InvalidInput(
            "guided readings (guided_lm_weight > 0) need a language model".into(),
        ));
    }
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
    let separation =
        separation_in_every_space(opts, &cllm1, &split, &space, baselines, out_dir, docs)?;
    let (likeness, family_likeness) = likeness_scorer(opts, &split, docs)?;
    let judges = DecodeJudges {
        likeness,
        real_texts: realism_sample(opts, &split, backbone)?,
        seed: opts.seed,
        guide: lm.map(|lm| (lm, opts.guided_lm_weight)),
    };
    let readings = readings::run::<B>(
        opts,
        out_dir,
        &cllm1,
        &split,
        &space,
        &zones.report,
        backbone,
        &judges,
        docs,
        device,
        control,
    )?;
    let discovery = discovery::run(
        opts,
        &cllm1,
        &split,
        &space,
        &zones.report,
        backbone,
        &judges,
    )?;
    let report = ExperimentReport {
        options: opts.clone(),
        split: split.counts(),
        cllm1: cllm1_report,
        zones: zones.summary(docs),
        separation,
        readings,
        discovery,
        family_likeness,
        wall_s: start.elapsed().as_secs_f64(),
    };
    report::write(&report, &split, &space, &zones.report, out_dir)?;
    Ok(report)
}

/// What every set of decodes is judged by besides its word F1: the content-based family
/// scorer and the held-out real texts of the realism test.
pub struct DecodeJudges<'a> {
    /// The family scorer (`None` when it could not be fitted).
    pub likeness: Option<FamilyLikeness>,
    /// Held-out real texts (validation texts, cut to CLLM1's length as decodes are).
    pub real_texts: Vec<String>,
    /// Seed of the realism test's folds.
    pub seed: u64,
    /// The language model and λ of the guided readings (none: plain decodes only).
    pub guide: Option<(&'a dyn LanguageModel, f32)>,
}

impl DecodeJudges<'_> {
    /// Mean P(family) of `texts` with its bootstrap interval (`None` without a scorer).
    pub fn family_likeness(
        &self,
        texts: &[String],
        opts: &ExperimentOptions,
    ) -> Result<Option<Interval>> {
        let Some(l) = &self.likeness else {
            return Ok(None);
        };
        let p: Vec<f64> = texts.iter().map(|t| l.probability(t)).collect();
        Ok(Some(bootstrap_mean(&p, opts.bootstrap, opts.seed)?))
    }

    /// The classifier two-sample AUROC of `texts` against the real texts
    /// ([`crate::realism`]); `None` (with a warning) when a sample is too small to test.
    pub fn two_sample_auroc(&self, texts: &[String]) -> Option<f64> {
        let real: Vec<&str> = self.real_texts.iter().map(String::as_str).collect();
        let generated: Vec<&str> = texts.iter().map(String::as_str).collect();
        match two_sample_test(&real, &generated, &realism_options(self.seed)) {
            Ok(t) => Some(t.auroc),
            Err(e) => {
                tracing::warn!(error = %e, "no realism test");
                None
            }
        }
    }
}

/// Validation texts for the realism test: up to 64 after the ones whose codes are decoded
/// as the floor (from the start when there are too few), detokenized from CLLM1's token
/// ids so that they are cut to its length as the decodes are.
fn realism_sample(
    opts: &ExperimentOptions,
    split: &Split,
    backbone: &dyn Backbone,
) -> Result<Vec<String>> {
    let ids = &split.val.ids;
    let start = if ids.len() >= opts.texts_per_split + 16 {
        opts.texts_per_split
    } else {
        0
    };
    ids[start..]
        .iter()
        .take(64)
        .map(|t| Ok(backbone.detokenize(t)?))
        .collect()
}

/// What the content-based family scorer says of real texts (see
/// [`ExperimentReport::family_likeness`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LikenessSummary {
    /// Cross-validated AUROC on every corpus text, names masked.
    pub cross_validated: CrossValidated,
    /// Words the final scorer reads.
    pub features: usize,
    /// Mean out-of-fold P(family) of the family's real texts: the ceiling.
    pub family_texts: Interval,
    /// Mean out-of-fold P(family) of the validation texts (real texts of other families).
    pub validation_texts: Interval,
}

/// Fits the family scorer on every corpus text (the family included; evaluation only) and
/// measures it on real texts; `None` (with a warning) when the family has too few texts.
fn likeness_scorer(
    opts: &ExperimentOptions,
    split: &Split,
    docs: &[Document],
) -> Result<(Option<FamilyLikeness>, Option<LikenessSummary>)> {
    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
    let labels: Vec<bool> = docs
        .iter()
        .map(|d| d.tag("family") == Some(opts.family.as_str()))
        .collect();
    let masked = masked_names();
    let lopts = LikenessOptions {
        seed: opts.seed,
        ..LikenessOptions::default()
    };
    tracing::info!(family = %opts.family, texts = texts.len(), "fitting the content-based family scorer");
    let cv = match cross_validate(&opts.family, &texts, &labels, &masked, &lopts) {
        Ok(cv) => cv,
        Err(e) => {
            tracing::warn!(error = %e, "no content-based family scorer");
            return Ok((None, None));
        }
    };
    let scorer = FamilyLikeness::fit(&opts.family, &texts, &labels, &masked, &lopts)?;
    let index: std::collections::HashMap<&str, usize> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id.as_str(), i))
        .collect();
    let oof = |ids: &[String]| -> Vec<f64> {
        ids.iter()
            .filter_map(|id| index.get(id.as_str()).map(|&i| cv.out_of_fold[i]))
            .collect()
    };
    let family_p = oof(&split.family.doc_ids);
    let val_p = oof(&split.val.doc_ids[..split.val.len().min(opts.texts_per_split)]);
    let summary = LikenessSummary {
        features: scorer.features(),
        family_texts: bootstrap_mean(&family_p, opts.bootstrap, opts.seed)?,
        validation_texts: bootstrap_mean(&val_p, opts.bootstrap, opts.seed)?,
        cross_validated: cv,
    };
    tracing::info!(
        auroc = summary.cross_validated.auroc,
        family = summary.family_texts.estimate,
        validation = summary.validation_texts.estimate,
        "family scorer: cross-validated AUROC (names masked), mean P(family) of real texts"
    );
    Ok((Some(scorer), Some(summary)))
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
    if opts.texts_per_split == 0
        || opts.bootstrap == 0
        || opts.knn == 0
        || opts.reference_texts == 0
    {
        return Err(EvalError::InvalidInput(
            "texts_per_split, bootstrap, knn and reference_texts must be positive".into(),
        ));
    }
    Ok(())
}

/// The family against validation texts in CLLM1's space and every baseline space, all
/// measured against the same reference sample; the baselines' vectors are kept in
/// `vectors_dir` (shared by a sweep's arms).
#[allow(clippy::too_many_arguments)]
pub(crate) fn separation_in_every_space<B: burn::tensor::backend::Backend>(
    opts: &ExperimentOptions,
    cllm1: &Cllm<B>,
    split: &Split,
    space: &split::Space,
    baselines: &[SentenceBaseline],
    vectors_dir: &Path,
    docs: &[Document],
) -> Result<Vec<SpaceSeparation>> {
    let reference = split::reference_sample(opts, split);
    let sentences = baselines
        .iter()
        .map(|b| baseline::sentence_space(b, split, &reference, vectors_dir))
        .collect::<Result<Vec<_>>>()?;
    membership::separation(
        opts,
        cllm1,
        split,
        space,
        &sentences,
        &reference,
        &split::train_classes(split, docs),
    )
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
