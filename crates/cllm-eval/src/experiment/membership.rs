//! Step 4: does the family land in CLLM1's voids? Zone membership, and the k-NN void score
//! (mean distance to the `knn` nearest training vectors) of the family's texts against
//! validation texts as an AUROC with a bootstrap 95% interval; the same AUROC in the
//! backbone's mean-pooled token-embedding space, what one gets without any CLLM.

use burn::tensor::backend::Backend;
use cllm_autoencoder::eval::knn_void_scores;
use cllm_autoencoder::Cllm;
use cllm_void::VoidReport;
use serde::{Deserialize, Serialize};

use super::baseline::SentenceSpace;
use super::split::{Part, Space, Split};
use super::voids::inside_a_zone;
use super::ExperimentOptions;
use crate::error::Result;
use crate::metrics::{bootstrap_auroc, bootstrap_rate, Interval};
use crate::void_score::{Reference, VoidScore};

/// Where a set of codes lies relative to CLLM1's training vectors and void zones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// Codes scored.
    pub codes: usize,
    /// Share inside a ball of any kept zone.
    pub in_zone: Interval,
    /// Share inside a ball of a significant zone.
    pub in_significant_zone: Interval,
    /// Void-score AUROC of these codes against CLLM1's codes of validation texts.
    pub void_auroc: Interval,
    /// Mean void score of these codes (distance units of the space).
    pub mean_void_score: f64,
}

/// The family against validation texts in one space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceSeparation {
    /// The space (`CLLM1 k=…`, or the baseline's name).
    pub space: String,
    /// Its dimension.
    pub dim: usize,
    /// Void-score AUROC, family vs validation, with its interval.
    pub auroc: Interval,
    /// The same AUROC within each source (family texts against validation texts of the
    /// same source), for sources with at least [`MIN_SOURCE_TEXTS`] of each: a style
    /// difference between sources cannot pass for a void here.
    #[serde(default)]
    pub within_source: Vec<SourceSeparation>,
    /// The AUROC under every score of [`VoidScore::all`] (the default, Euclidean k = 10,
    /// among them): cosine and Euclidean k-NN for k in {1, 5, 10, 50}, relative Mahalanobis.
    #[serde(default)]
    pub scores: Vec<ScoredSeparation>,
}

/// The family against validation texts under one void score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredSeparation {
    /// The score.
    pub score: VoidScore,
    /// Its AUROC with the interval.
    pub auroc: Interval,
}

impl SpaceSeparation {
    /// The score with the highest AUROC: picked after the fact, an upper bound.
    pub fn best(&self) -> Option<&ScoredSeparation> {
        self.scores
            .iter()
            .max_by(|a, b| a.auroc.estimate.total_cmp(&b.auroc.estimate))
    }
}

/// The family against validation texts of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceSeparation {
    /// The source (the document id's prefix before `:`).
    pub source: String,
    /// Family texts of the source.
    pub family_texts: usize,
    /// Validation texts of the source.
    pub val_texts: usize,
    /// Void-score AUROC, with its interval.
    pub auroc: Interval,
}

/// The fewest family and validation texts a source needs for a within-source AUROC.
pub const MIN_SOURCE_TEXTS: usize = 5;

/// The source of a document id ([`cllm_core::Document::source_of_id`]; `-` for none).
pub fn source_of(id: &str) -> &str {
    cllm_core::Document::source_of_id(id).unwrap_or("-")
}

/// The void scores of CLLM1's validation codes: the negatives of every membership AUROC,
/// computed once for all readings.
pub fn validation_scores(opts: &ExperimentOptions, space: &Space) -> Result<Vec<f64>> {
    Ok(knn_void_scores(&space.train, &space.val, opts.knn)?)
}

/// Membership of `codes` (vectors in CLLM1's space); `val` from [`validation_scores`].
pub fn membership(
    opts: &ExperimentOptions,
    codes: &[Vec<f32>],
    space: &Space,
    val: &[f64],
    zones: &VoidReport,
) -> Result<Membership> {
    let scores = knn_void_scores(&space.train, codes, opts.knn)?;
    let inside = codes
        .iter()
        .map(|c| inside_a_zone(zones, c, false))
        .collect::<Result<Vec<_>>>()?;
    let inside_sig = codes
        .iter()
        .map(|c| inside_a_zone(zones, c, true))
        .collect::<Result<Vec<_>>>()?;
    Ok(Membership {
        codes: codes.len(),
        in_zone: bootstrap_rate(&inside, opts.bootstrap, opts.seed)?,
        in_significant_zone: bootstrap_rate(&inside_sig, opts.bootstrap, opts.seed)?,
        void_auroc: bootstrap_auroc(&scores, val, opts.bootstrap, opts.seed)?,
        mean_void_score: scores.iter().sum::<f64>() / scores.len().max(1) as f64,
    })
}

/// The family against validation texts in CLLM1's space, in the backbone's mean-pooled
/// token-embedding space (the corpus vocabulary rows of CLLM1's table: layer 0) and, when
/// given, in a sentence encoder's space.
pub fn separation<B: Backend>(
    opts: &ExperimentOptions,
    cllm1: &Cllm<B>,
    split: &Split,
    space: &Space,
    sentences: Option<&SentenceSpace>,
    train_classes: &[String],
) -> Result<Vec<SpaceSeparation>> {
    let val_sources: Vec<&str> = split.val.doc_ids.iter().map(|id| source_of(id)).collect();
    let fam_sources: Vec<&str> = split.family.doc_ids.iter().map(|id| source_of(id)).collect();
    let mut sources: Vec<&str> = fam_sources.clone();
    sources.sort_unstable();
    sources.dedup();
    let score = |train: &[Vec<f32>],
                 val: &[Vec<f32>],
                 fam: &[Vec<f32>]|
     -> Result<(Interval, Vec<SourceSeparation>)> {
        let f = knn_void_scores(train, fam, opts.knn)?;
        let v = knn_void_scores(train, val, opts.knn)?;
        let mut within = Vec::new();
        for &source in &sources {
            let pick = |scores: &[f64], of: &[&str]| -> Vec<f64> {
                scores
                    .iter()
                    .zip(of)
                    .filter(|(_, s)| **s == source)
                    .map(|(x, _)| *x)
                    .collect()
            };
            let (fs, vs) = (pick(&f, &fam_sources), pick(&v, &val_sources));
            if fs.len() >= MIN_SOURCE_TEXTS && vs.len() >= MIN_SOURCE_TEXTS {
                within.push(SourceSeparation {
                    source: source.to_string(),
                    family_texts: fs.len(),
                    val_texts: vs.len(),
                    auroc: bootstrap_auroc(&fs, &vs, opts.bootstrap, opts.seed)?,
                });
            }
        }
        Ok((bootstrap_auroc(&f, &v, opts.bootstrap, opts.seed)?, within))
    };
    let pooled = |p: &Part| -> Result<Vec<Vec<f32>>> { mean_pooled(cllm1, p) };
    let (train, val, fam) = (
        pooled(&split.train)?,
        pooled(&split.val)?,
        pooled(&split.family)?,
    );
    let every_score = |t: &[Vec<f32>], v: &[Vec<f32>], f: &[Vec<f32>]| {
        let reference = Reference::new(t, train_classes)?;
        let (fs, vs) = (reference.score_all(f)?, reference.score_all(v)?);
        let mut out = Vec::new();
        for ((score, fam), (_, val)) in fs.into_iter().zip(vs) {
            if let (Some(fam), Some(val)) = (fam, val) {
                out.push(ScoredSeparation {
                    score,
                    auroc: bootstrap_auroc(&fam, &val, opts.bootstrap, opts.seed)?,
                });
            }
        }
        Ok::<_, crate::EvalError>(out)
    };
    let separation = |space: String, dim: usize, t: &[Vec<f32>], v: &[Vec<f32>], f: &[Vec<f32>]| {
        tracing::info!(space = %space, "void scores");
        let (auroc, within_source) = score(t, v, f)?;
        Ok::<_, crate::EvalError>(SpaceSeparation {
            space,
            dim,
            auroc,
            within_source,
            scores: every_score(t, v, f)?,
        })
    };
    let mut spaces = vec![
        separation(
            format!("CLLM1 (k = {})", cllm1.k()),
            cllm1.k(),
            &space.train,
            &space.val,
            &space.family,
        )?,
        separation(
            "mean-pooled token embeddings (layer 0)".into(),
            train.first().map_or(0, Vec::len),
            &train,
            &val,
            &fam,
        )?,
    ];
    if let Some(s) = sentences {
        spaces.push(separation(s.name.clone(), s.dim, &s.train, &s.val, &s.family)?);
    }
    Ok(spaces)
}

/// The mean of every text's token-embedding rows.
fn mean_pooled<B: Backend>(cllm: &Cllm<B>, part: &Part) -> Result<Vec<Vec<f32>>> {
    let vocab = cllm.vocab();
    part.ids
        .iter()
        .map(|ids| {
            let idx = vocab.indices_of(ids)?;
            let mut sum = vec![0f64; vocab.width()];
            for &i in &idx {
                for (s, &x) in sum.iter_mut().zip(vocab.row(i)) {
                    *s += f64::from(x);
                }
            }
            let n = idx.len().max(1) as f64;
            Ok(sum.into_iter().map(|s| (s / n) as f32).collect())
        })
        .collect()
}
