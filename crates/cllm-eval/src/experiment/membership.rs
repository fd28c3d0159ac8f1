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
/// token-embedding space (the corpus vocabulary rows of CLLM1's table: layer 0) and in
/// each of the sentence encoders' `baselines`. Every space is scored against the same
/// reference sample of training texts (`reference`: indices into `split.train`, with
/// `train_classes` holding one class per training text), so the spaces are compared under
/// one protocol.
pub fn separation<B: Backend>(
    opts: &ExperimentOptions,
    cllm1: &Cllm<B>,
    split: &Split,
    space: &Space,
    baselines: &[SentenceSpace],
    reference: &[usize],
    train_classes: &[String],
) -> Result<Vec<SpaceSeparation>> {
    let val_sources: Vec<&str> = split.val.doc_ids.iter().map(|id| source_of(id)).collect();
    let fam_sources: Vec<&str> = split
        .family
        .doc_ids
        .iter()
        .map(|id| source_of(id))
        .collect();
    let mut sources: Vec<&str> = fam_sources.clone();
    sources.sort_unstable();
    sources.dedup();
    let classes: Vec<String> = reference
        .iter()
        .map(|&i| train_classes[i].clone())
        .collect();
    let within = |f: &[f64], v: &[f64]| -> Result<Vec<SourceSeparation>> {
        let mut out = Vec::new();
        for &source in &sources {
            let pick = |scores: &[f64], of: &[&str]| -> Vec<f64> {
                scores
                    .iter()
                    .zip(of)
                    .filter(|(_, s)| **s == source)
                    .map(|(x, _)| *x)
                    .collect()
            };
            let (fs, vs) = (pick(f, &fam_sources), pick(v, &val_sources));
            if fs.len() >= MIN_SOURCE_TEXTS && vs.len() >= MIN_SOURCE_TEXTS {
                out.push(SourceSeparation {
                    source: source.to_string(),
                    family_texts: fs.len(),
                    val_texts: vs.len(),
                    auroc: bootstrap_auroc(&fs, &vs, opts.bootstrap, opts.seed)?,
                });
            }
        }
        Ok(out)
    };
    let separation = |name: String, t: &[Vec<f32>], v: &[Vec<f32>], f: &[Vec<f32>]| {
        tracing::info!(space = %name, "void scores");
        let scored = Reference::new(t, &classes)?;
        let (fs, vs) = (scored.score_all(f)?, scored.score_all(v)?);
        let default = VoidScore::Euclidean { k: opts.knn };
        let mut scores = Vec::new();
        let mut headline = None;
        for ((score, fam), (_, val)) in fs.into_iter().zip(vs) {
            if let (Some(fam), Some(val)) = (fam, val) {
                scores.push(ScoredSeparation {
                    score,
                    auroc: bootstrap_auroc(&fam, &val, opts.bootstrap, opts.seed)?,
                });
                if score == default {
                    headline = Some((fam, val));
                }
            }
        }
        // The default is among the scores unless `knn` is not one of void_score::KS.
        let (fam, val) = match headline {
            Some(h) => h,
            None => (
                knn_void_scores(t, f, opts.knn)?,
                knn_void_scores(t, v, opts.knn)?,
            ),
        };
        Ok::<_, crate::EvalError>(SpaceSeparation {
            space: name,
            dim: t.first().map_or(0, Vec::len),
            auroc: bootstrap_auroc(&fam, &val, opts.bootstrap, opts.seed)?,
            within_source: within(&fam, &val)?,
            scores,
        })
    };
    let sample =
        |all: &[Vec<f32>]| -> Vec<Vec<f32>> { reference.iter().map(|&i| all[i].clone()).collect() };
    let reference_part = Part {
        ids: reference
            .iter()
            .map(|&i| split.train.ids[i].clone())
            .collect(),
        ..Part::default()
    };
    let mut spaces = vec![
        separation(
            format!("CLLM1 (k = {})", cllm1.k()),
            &sample(&space.train),
            &space.val,
            &space.family,
        )?,
        separation(
            "mean-pooled token embeddings (layer 0)".into(),
            &mean_pooled(cllm1, &reference_part)?,
            &mean_pooled(cllm1, &split.val)?,
            &mean_pooled(cllm1, &split.family)?,
        )?,
    ];
    for s in baselines {
        spaces.push(separation(s.name.clone(), &s.reference, &s.val, &s.family)?);
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
