//! The dimension sweep (`cllm experiment --k 8,16,32,64`): CLLM1 trained once per arm, an
//! arm being a text-vector size `k` with the clustering and smoothness terms off or on, and
//! every arm scored the same way: reconstruction of the validation texts, the void zones of
//! its training vectors (with the null test), and the void-score AUROC of the held-out
//! family against validation texts. One table (`sweep.md`, `sweep.json`) and one figure
//! (`sweep.svg`).
//!
//! An arm is steps 1–4 of the experiment ([`super`]) in its own folder
//! (`sweep/k{k}-{plain|terms}`), so a sweep resumes arm by arm and step by step; the
//! readings of CLLM2 and the discovery step are left to a single-`k` experiment.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use cllm_autoencoder::{Cllm, JobReport, RunControl};
use cllm_core::{Backbone, Document};
use serde::{Deserialize, Serialize};

use super::baseline::SentenceBaseline;
use super::membership::SpaceSeparation;
use super::report::{interval, save_set};
use super::voids::{self, ZoneSummary};
use super::{check, cllm1, separation_in_every_space, split, ExperimentOptions, CLLM1};
use crate::error::{EvalError, Result};
use crate::plot::{line_chart, Series};

/// What the sweep varies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepOptions {
    /// Text-vector sizes.
    pub ks: Vec<usize>,
    /// Whether each `k` runs without the terms (`false`), with them (`true`), or both.
    pub terms: Vec<bool>,
    /// Weight of the clustering term in the arms with the terms on.
    pub cluster_weight: f64,
    /// Relative std of the smoothness noise in the arms with the terms on.
    pub latent_noise: f64,
}

impl Default for SweepOptions {
    /// k = 8, 16, 32, 64, each without and with the terms (clustering 0.5, noise 0.1).
    fn default() -> Self {
        Self {
            ks: vec![8, 16, 32, 64],
            terms: vec![false, true],
            cluster_weight: 0.5,
            latent_noise: 0.1,
        }
    }
}

/// One arm's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepArm {
    /// Text-vector size.
    pub k: usize,
    /// Whether the clustering and smoothness terms were on.
    pub terms: bool,
    /// Training steps done.
    pub steps: usize,
    /// Training wall time, seconds.
    pub train_s: f64,
    /// Teacher-forced token accuracy on validation texts (the best model's).
    pub val_token_accuracy: f64,
    /// Free-running word F1 on validation texts (`None` without a backbone).
    pub val_word_f1: Option<f64>,
    /// The shape of the arm's training codes (participation ratio, mean |correlation|).
    #[serde(default)]
    pub code_shape: Option<cllm_core::CodeShape>,
    /// The void zones of the arm's training vectors.
    pub zones: ZoneSummary,
    /// The family against validation texts: the arm's CLLM1 space first, then the
    /// baseline spaces.
    pub separation: Vec<SpaceSeparation>,
}

impl SweepArm {
    /// The arm's folder name: `k16-plain`, `k16-terms`.
    pub fn name(k: usize, terms: bool) -> String {
        format!("k{k}-{}", if terms { "terms" } else { "plain" })
    }
}

/// Everything a sweep found (`sweep.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// The experiment's options (CLLM1's as given; each arm changes `k` and the terms).
    pub options: ExperimentOptions,
    /// What was swept.
    pub sweep: SweepOptions,
    /// One entry per arm, in the order run (k ascending, plain before terms).
    pub arms: Vec<SweepArm>,
    /// Wall time of the sweep in this session, seconds.
    pub wall_s: f64,
}

/// Runs (or resumes) every arm of the sweep into `out_dir/sweep/…` and writes
/// `sweep.json`, `sweep.md` and `sweep.svg` into `out_dir`. `baselines` add sentence
/// encoders' spaces (MiniLM, a backbone layer) to the baselines; their vectors are kept in
/// `out_dir`, shared by every arm.
#[allow(clippy::too_many_arguments)]
pub fn run_sweep<B: AutodiffBackend>(
    opts: &ExperimentOptions,
    sweep: &SweepOptions,
    out_dir: &Path,
    backbone: &dyn Backbone,
    baselines: &[SentenceBaseline],
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<SweepReport> {
    let start = std::time::Instant::now();
    check(opts)?;
    let _writer = cllm_core::FolderLock::acquire(out_dir)?;
    if sweep.ks.is_empty() || sweep.terms.is_empty() || sweep.ks.contains(&0) {
        return Err(EvalError::InvalidInput(
            "a sweep needs at least one positive k and one setting of the terms".into(),
        ));
    }
    let mut arms = Vec::new();
    for &k in &sweep.ks {
        for &terms in &sweep.terms {
            let arm_opts = arm_options(opts, sweep, k, terms);
            let dir = arm_dir(out_dir, k, terms);
            tracing::info!(arm = %SweepArm::name(k, terms), "sweep arm");
            let job = cllm1::<B>(&arm_opts, &dir, backbone, docs, device, control)?;
            let model = Cllm::<B::InnerBackend>::load(&dir.join(CLLM1).join("model"), device)?;
            let split = split::read(&arm_opts, &dir.join(CLLM1), docs)?;
            let space = split::encode(&model, &split, arm_opts.progress)?;
            let zones = voids::find_or_load(&space, &split, &arm_opts.voids, &dir)?;
            let separation = separation_in_every_space(
                &arm_opts, &model, &split, &space, baselines, out_dir, docs,
            )?;
            arms.push(arm_result(k, terms, &job, zones.summary(docs), separation));
        }
    }
    let report = SweepReport {
        options: opts.clone(),
        sweep: sweep.clone(),
        arms,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write(&report, out_dir)?;
    Ok(report)
}

/// CLLM1's options in one arm: the given ones with `k` and the terms set.
fn arm_options(
    opts: &ExperimentOptions,
    sweep: &SweepOptions,
    k: usize,
    terms: bool,
) -> ExperimentOptions {
    let mut o = opts.clone();
    o.cllm1.model.k = k;
    let (cluster, noise) = if terms {
        (sweep.cluster_weight, sweep.latent_noise)
    } else {
        (0.0, 0.0)
    };
    o.cllm1.loss.cluster_weight = cluster;
    o.cllm1.loss.latent_noise = noise;
    o
}

fn arm_dir(out_dir: &Path, k: usize, terms: bool) -> PathBuf {
    out_dir.join("sweep").join(SweepArm::name(k, terms))
}

fn arm_result(
    k: usize,
    terms: bool,
    job: &JobReport,
    zones: ZoneSummary,
    separation: Vec<SpaceSeparation>,
) -> SweepArm {
    let val = job.splits.iter().find(|s| s.name == "val");
    SweepArm {
        k,
        terms,
        steps: job.steps,
        train_s: job.wall_s,
        val_token_accuracy: val.map_or(f64::NAN, |v| v.report.token_accuracy),
        val_word_f1: val.and_then(|v| v.free_running.word_f1),
        code_shape: job.code_shape.as_ref().map(|c| c.shape.clone()),
        zones,
        separation,
    }
}

/// `sweep.json`, `sweep.md` and `sweep.svg`.
fn write(report: &SweepReport, out_dir: &Path) -> Result<()> {
    let json =
        serde_json::to_string_pretty(report).map_err(|e| EvalError::InvalidInput(e.to_string()))?;
    let (md, svg) = (markdown(report), figure(report));
    save_set(
        out_dir,
        &[
            ("sweep.json", json.as_bytes()),
            ("sweep.md", md.as_bytes()),
            ("sweep.svg", svg.as_bytes()),
        ],
    )
}

/// The sweep's table, with the baselines under it.
pub fn markdown(r: &SweepReport) -> String {
    let mut md = String::new();
    let o = &r.options;
    let _ = writeln!(
        md,
        "# cllm experiment: dimension sweep, {} held out\n\n\
         CLLM1 ({} decoder) trained per arm for at most {} steps / {} s; the terms, when on: \
         clustering weight {}, smoothness noise σ = {}. Void AUROC: the family's k-NN void \
         score (k = {}) against validation texts', with a bootstrap 95% interval \
         ({} resamples). Word F1 of two random recipes: about 0.29. Wall time {:.0} s.\n",
        o.family,
        if o.cllm1.model.is_autoregressive() {
            "autoregressive"
        } else {
            "mirror"
        },
        o.cllm1.max_steps,
        o.cllm1
            .time_budget_s
            .map_or("-".into(), |t| format!("{t:.0}")),
        r.sweep.cluster_weight,
        r.sweep.latent_noise,
        o.knn,
        o.bootstrap,
        r.wall_s,
    );
    md.push_str(
        "| k | terms | steps | train s | val token acc | val word F1 | participation ratio | mean \\|corr\\| | zones (significant) | void AUROC, CLLM1 |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for a in &r.arms {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.3} | {} | {} | {} | {} ({}) | {} |",
            a.k,
            if a.terms { "on" } else { "off" },
            a.steps,
            a.train_s,
            a.val_token_accuracy,
            a.val_word_f1.map_or("-".into(), |f| format!("{f:.3}")),
            a.code_shape
                .as_ref()
                .map_or("-".into(), |c| format!("{:.1}", c.participation_ratio)),
            a.code_shape
                .as_ref()
                .map_or("-".into(), |c| format!("{:.2}", c.mean_abs_correlation)),
            a.zones.kept,
            a.zones.significant,
            a.separation
                .first()
                .map_or("-".into(), |s| interval(&s.auroc)),
        );
    }
    if let Some(first) = r.arms.first() {
        md.push_str("\nBaseline spaces (independent of k):\n\n| space | dim | void AUROC |\n|---|---:|---|\n");
        for s in first.separation.iter().skip(1) {
            let _ = writeln!(md, "| {} | {} | {} |", s.space, s.dim, interval(&s.auroc));
        }
    }
    md
}

/// Void AUROC and validation word F1 against k, one line per setting of the terms.
fn figure(r: &SweepReport) -> String {
    let mut series = Vec::new();
    for &terms in &r.sweep.terms {
        let arms: Vec<&SweepArm> = r.arms.iter().filter(|a| a.terms == terms).collect();
        let tag = if terms { "terms on" } else { "terms off" };
        series.push(Series {
            name: format!("void AUROC, {tag}"),
            points: arms
                .iter()
                .filter_map(|a| Some((a.k as f64, a.separation.first()?.auroc.estimate)))
                .collect(),
        });
        series.push(Series {
            name: format!("val word F1, {tag}"),
            points: arms
                .iter()
                .filter_map(|a| Some((a.k as f64, a.val_word_f1?)))
                .collect(),
        });
        series.push(Series {
            name: format!("val token accuracy, {tag}"),
            points: arms
                .iter()
                .map(|a| (a.k as f64, a.val_token_accuracy))
                .collect(),
        });
    }
    line_chart(
        &format!("Dimension sweep, {} held out", r.options.family),
        "text-vector size k",
        "AUROC / word F1 / token accuracy",
        &series,
    )
}
