//! `cllm generate`: vectors from a [`VectorSource`] → the CLLM's decoder → texts, scored
//! ([`TextScores`]) and ranked by usefulness; written as JSONL and a markdown table.

use std::io::Write;
use std::path::Path;

use burn::tensor::backend::Backend;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use cllm_autoencoder::{Cllm, DecodeOptions};
use cllm_core::{perplexity, Backbone, LanguageModel, TextVector};
use cllm_void::PointSet;

use crate::error::{EvalError, Result};
use crate::realism::{realism_options, two_sample_test};
use crate::scoring::{median, usefulness_order, ReferenceCorpus, TextScores};
use crate::sources::{draw, Provenance, VectorSource};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// Where the vectors come from.
    pub source: VectorSource,
    /// How many texts.
    pub n: usize,
    /// Seed of the sampler (and of nucleus sampling, through `decode`).
    pub seed: u64,
    /// How vectors become tokens.
    pub decode: DecodeOptions,
    /// Real texts whose median perplexity the generated ones are compared with.
    pub real_texts: Vec<Vec<u32>>,
}

/// One generated text with where it came from and its scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedText {
    /// 1-based usefulness rank.
    pub rank: usize,
    /// The vector decoded.
    pub vector: Vec<f32>,
    /// How the vector was made.
    pub provenance: Provenance,
    /// The decoded text.
    pub text: String,
    /// The decoder's mean log-probability per token (under LM guidance, the mean fused
    /// score: decoder + λ · language model).
    pub decoder_logprob: f64,
    /// Whether the decoder ended the text (false: cut at the length limit).
    pub ended: bool,
    /// Its scores.
    pub scores: TextScores,
}

/// The result of a generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationReport {
    /// The sampler's name.
    pub source: String,
    /// Median per-token perplexity of the real texts.
    pub median_real_perplexity: Option<f64>,
    /// λ of the LM guidance the texts were decoded with (0: the plain decoder). Above 0 the
    /// fluency judge also steered the search, which the perplexity ratios flatter.
    #[serde(default)]
    pub lm_weight: f32,
    /// Classifier two-sample AUROC of the generated texts against the real ones
    /// ([`crate::realism`]; 0.5 = indistinguishable); `None` when too few to test.
    #[serde(default)]
    pub two_sample_auroc: Option<f64>,
    /// Texts in rank order.
    pub texts: Vec<GeneratedText>,
}

/// The data points vectors are drawn around: the reference corpus's vectors with ids.
pub struct DataPoints<'a> {
    /// The vectors.
    pub points: &'a PointSet,
    /// One id per vector.
    pub ids: &'a [String],
}

/// Draws vectors, decodes them with `cllm`, scores and ranks the texts.
#[allow(clippy::too_many_arguments)]
pub fn generate<B: Backend>(
    cllm: &Cllm<B>,
    backbone: &dyn Backbone,
    lm: &dyn LanguageModel,
    data: DataPoints<'_>,
    reference: &ReferenceCorpus,
    family_of: &dyn Fn(&str) -> Option<String>,
    opts: &GenerateOptions,
    progress: &ProgressBar,
) -> Result<GenerationReport> {
    if opts.n == 0 {
        return Err(EvalError::InvalidInput(
            "nothing to generate (n = 0)".into(),
        ));
    }
    let drawn = draw(&opts.source, data.points, data.ids, opts.n, opts.seed)?;
    let vectors: Vec<TextVector> = drawn
        .iter()
        .map(|(v, _)| TextVector::new(v.clone()))
        .collect::<Result<_, _>>()?;
    progress.set_length((opts.n + opts.real_texts.len()) as u64);
    progress.set_message("decoding");
    // guided by the fluency judge itself when `decode.lm_weight` > 0 (shallow fusion)
    let decoded = cllm.generate_guided(&vectors, &opts.decode, Some(lm))?;
    progress.set_message("scoring");
    let mut real = Vec::with_capacity(opts.real_texts.len());
    for ids in &opts.real_texts {
        real.push(perplexity(lm, ids).unwrap_or(f64::NAN));
        progress.inc(1);
    }
    let median_real = median(&real);
    let mut texts = Vec::with_capacity(decoded.len());
    for ((vector, provenance), d) in drawn.into_iter().zip(decoded) {
        let text = backbone.detokenize(&d.ids)?;
        let ppl = perplexity(lm, &d.ids).ok();
        let scores = TextScores::new(
            &text,
            &vector,
            ppl,
            median_real,
            reference,
            family_of(&text),
        );
        let mean_lp = cllm_autoencoder::decoding::mean_logprob(&d.logprobs);
        texts.push(GeneratedText {
            rank: 0,
            vector,
            provenance,
            text,
            decoder_logprob: mean_lp,
            ended: d.ended,
            scores,
        });
        progress.inc(1);
    }
    let two_sample_auroc = judge_realism(backbone, opts, cllm.config().max_len, &mut texts)?;
    let scores: Vec<TextScores> = texts.iter().map(|t| t.scores.clone()).collect();
    let mut ranked: Vec<GeneratedText> = Vec::with_capacity(texts.len());
    let mut slots: Vec<Option<GeneratedText>> = texts.into_iter().map(Some).collect();
    for (rank, i) in usefulness_order(&scores).into_iter().enumerate() {
        if let Some(mut t) = slots[i].take() {
            t.rank = rank + 1;
            ranked.push(t);
        }
    }
    Ok(GenerationReport {
        source: opts.source.name().into(),
        median_real_perplexity: median_real,
        lm_weight: opts.decode.lm_weight,
        two_sample_auroc,
        texts: ranked,
    })
}

/// The realism test of the generated texts against the real ones, cut to the `max_len`
/// tokens a decode can have (else the length alone would tell them apart): sets each
/// text's out-of-fold P(real) and returns the two-sample AUROC (`None`, with a warning,
/// when either sample is too small).
fn judge_realism(
    backbone: &dyn Backbone,
    opts: &GenerateOptions,
    max_len: usize,
    texts: &mut [GeneratedText],
) -> Result<Option<f64>> {
    let real: Vec<String> = opts
        .real_texts
        .iter()
        .map(|ids| backbone.detokenize(&ids[..ids.len().min(max_len)]))
        .collect::<std::result::Result<_, _>>()?;
    let real: Vec<&str> = real.iter().map(String::as_str).collect();
    let generated: Vec<&str> = texts.iter().map(|t| t.text.as_str()).collect();
    match two_sample_test(&real, &generated, &realism_options(opts.seed)) {
        Ok(test) => {
            for (t, p) in texts.iter_mut().zip(test.realism) {
                t.scores.realism = Some(p);
            }
            Ok(Some(test.auroc))
        }
        Err(e) => {
            tracing::warn!(error = %e, "no realism test");
            Ok(None)
        }
    }
}

impl GenerationReport {
    /// One JSON object per text, in rank order, written atomically.
    pub fn write_jsonl(&self, path: &Path) -> Result<()> {
        let mut bytes = Vec::new();
        for t in &self.texts {
            serde_json::to_writer(&mut bytes, t)
                .map_err(|e| EvalError::InvalidInput(e.to_string()))?;
            bytes.push(b'\n');
        }
        cllm_core::write_atomic(path, &bytes).map_err(|e| EvalError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// A markdown table of the `top` best texts with their scores.
    pub fn markdown(&self, top: usize) -> String {
        let mut s = Vec::new();
        let guidance = if self.lm_weight > 0.0 {
            format!("; decoded with SmolLM2 guidance λ = {}", self.lm_weight)
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "# Generated texts ({}, {} texts; median real perplexity {}{guidance}; realism two-sample AUROC {})\n",
            self.source,
            self.texts.len(),
            self.median_real_perplexity
                .map_or("-".into(), |v| format!("{v:.1}")),
            self.two_sample_auroc
                .map_or("-".into(), |v| format!("{v:.3}"))
        );
        let _ = writeln!(
            s,
            "| rank | from | ppl ratio | realism | nearest F1 | dup | rep3 | family | text |\n|---|---|---|---|---|---|---|---|---|"
        );
        for t in self.texts.iter().take(top) {
            let sc = &t.scores;
            let text: String = t.text.chars().take(160).collect();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.2} | {} | {:.2} | {} | {} |",
                t.rank,
                provenance_label(&t.provenance),
                sc.perplexity_ratio
                    .map_or("-".into(), |v| format!("{v:.2}")),
                sc.realism.map_or("-".into(), |v| format!("{v:.2}")),
                sc.nearest_word_f1,
                if sc.duplicate { "yes" } else { "" },
                sc.repeated_trigrams,
                sc.family.as_deref().unwrap_or(""),
                cllm_core::safe_text::markdown_cell(&text)
            );
        }
        String::from_utf8_lossy(&s).into_owned()
    }
}

fn provenance_label(p: &Provenance) -> String {
    match p {
        Provenance::ZoneCentre { zone } => format!("zone {zone} centre"),
        Provenance::InZone { zone } => format!("zone {zone}"),
        Provenance::Near { of } => format!("near {of}"),
        Provenance::Midpoint { of } => format!("mid {} / {}", of[0], of[1]),
        Provenance::Gaussian => "gaussian".into(),
    }
}
