//! Step 6: discovery without CLLM2, the method's promise. Vectors drawn from CLLM1's top
//! void zones, and as many from the Gaussian fitted to the training vectors, near training
//! vectors and at midpoints between them; each decoded by CLLM1 and counted when it reads
//! as the held-out family. If the voids hold the family, their samples should read as it
//! more often than the others.

use burn::tensor::backend::Backend;
use cllm_autoencoder::{Cllm, DecodeOptions};
use cllm_core::{Backbone, TextVector};
use cllm_void::{PointSet, VoidReport};
use serde::{Deserialize, Serialize};

use super::readings::{family_has_rule, reads_as};
use super::split::{Space, Split};
use super::{DecodeJudges, ExperimentOptions};
use crate::error::Result;
use crate::metrics::{bootstrap_rate, Interval};
use crate::scoring::ReferenceCorpus;
use crate::sources::{draw, Provenance, VectorSource};

/// What one source's samples decoded to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceCount {
    /// The source (`voids`, `gaussian`, `near`, `midpoints`).
    pub source: String,
    /// Samples decoded.
    pub samples: usize,
    /// Share of decodes that read as the held-out family (`None` without a text rule).
    pub reads_as_family: Option<Interval>,
    /// Mean P(family) of the decodes by the content-based scorer, names masked
    /// ([`crate::likeness`]); `None` without a scorer.
    #[serde(default)]
    pub family_likeness: Option<Interval>,
    /// Classifier two-sample AUROC of the decodes against held-out real texts
    /// ([`crate::realism`]; 0.5 = indistinguishable); `None` when too few to test.
    #[serde(default)]
    pub two_sample_auroc: Option<f64>,
    /// Mean word F1 of each decode with its nearest training text (1 = a copy).
    pub nearest_training_f1: f64,
    /// Share of distinct texts among the decodes.
    pub distinct_decodes: f64,
    /// The decodes, in draw order (300 characters each).
    pub decodes: Vec<SampleDecode>,
}

/// One decoded sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleDecode {
    /// How the vector was made.
    pub provenance: Provenance,
    /// The vector.
    pub vector: Vec<f32>,
    /// The decode.
    pub text: String,
    /// Whether it reads as the held-out family.
    pub reads_as_family: bool,
    /// P(family) by the content-based scorer (`None` without one).
    #[serde(default)]
    pub family_likeness: Option<f64>,
    /// The nearest training text by word F1: its id and the F1.
    pub nearest_training: (String, f64),
}

/// Every source's count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    /// One entry per source, voids first.
    pub sources: Vec<SourceCount>,
}

/// Draws, decodes and counts `opts.samples` vectors per source.
pub fn run<B: Backend>(
    opts: &ExperimentOptions,
    cllm1: &Cllm<B>,
    split: &Split,
    space: &Space,
    zones: &VoidReport,
    backbone: &dyn Backbone,
    judges: &DecodeJudges,
) -> Result<Discovery> {
    let points = PointSet::from_rows(&space.train)?;
    let reference = ReferenceCorpus::new(
        split
            .train
            .doc_ids
            .iter()
            .cloned()
            .zip(split.train.texts.iter().cloned())
            .collect(),
    )?;
    let mut sources = Vec::new();
    if !zones.zones.is_empty() {
        sources.push(VectorSource::Voids {
            report: zones.clone(),
        });
    }
    sources.extend([
        VectorSource::Gaussian,
        VectorSource::Near { scale: 0.5 },
        VectorSource::Midpoints,
    ]);
    let decode = DecodeOptions {
        max_tokens: Some(cllm1.config().max_len + 1),
        ..DecodeOptions::default()
    };
    let known = family_has_rule(&opts.family);
    let mut out = Vec::new();
    for source in &sources {
        tracing::info!(source = source.name(), n = opts.samples, "decoding samples");
        let drawn = draw(
            source,
            &points,
            &split.train.doc_ids,
            opts.samples,
            opts.seed,
        )?;
        let vectors: Vec<TextVector> = drawn
            .iter()
            .map(|(v, _)| TextVector::new(v.clone()))
            .collect::<std::result::Result<_, _>>()?;
        let decoded = super::progress::decode_with_bar(
            cllm1,
            &vectors,
            &decode,
            None,
            &format!("decoding {} samples", source.name()),
            opts.progress,
        )?;
        let mut decodes = Vec::with_capacity(decoded.len());
        let mut full_texts = Vec::with_capacity(decoded.len());
        for ((vector, provenance), d) in drawn.into_iter().zip(decoded) {
            let text = backbone.detokenize(&d.ids)?;
            full_texts.push(text.clone());
            decodes.push(SampleDecode {
                provenance,
                vector,
                reads_as_family: reads_as(&text, &opts.family),
                family_likeness: judges.likeness.as_ref().map(|l| l.probability(&text)),
                nearest_training: reference.nearest_text(&text),
                text: text.chars().take(300).collect(),
            });
        }
        let flags: Vec<bool> = decodes.iter().map(|d| d.reads_as_family).collect();
        let n = decodes.len().max(1) as f64;
        out.push(SourceCount {
            source: source.name().into(),
            samples: decodes.len(),
            reads_as_family: known
                .then(|| bootstrap_rate(&flags, opts.bootstrap, opts.seed))
                .transpose()?,
            family_likeness: judges.family_likeness(&full_texts, opts)?,
            two_sample_auroc: judges.two_sample_auroc(&full_texts),
            nearest_training_f1: decodes.iter().map(|d| d.nearest_training.1).sum::<f64>() / n,
            distinct_decodes: decodes
                .iter()
                .map(|d| d.text.as_str())
                .collect::<std::collections::HashSet<_>>()
                .len() as f64
                / n,
            decodes,
        });
    }
    Ok(Discovery { sources: out })
}
