//! Step 5: the readings of CLLM2, and CLLM1's decoder reading their codes.
//!
//! - [`Reading::Cllm1`]: CLLM1's own codes of the family (the baseline);
//! - [`Reading::ValidationTexts`]: CLLM1's codes of validation texts (how often an unseen
//!   text of the training families reads as the held-out family: the floor of the
//!   cross-decoding rate);
//! - [`Reading::WholeModel`] (a): CLLM1 fine-tuned on the family, a share of every batch
//!   replayed from its training texts: the method's own words;
//! - [`Reading::EncoderOnly`] (b): the same with CLLM1's decoder frozen, so that CLLM2's
//!   codes are read by CLLM1's decoder by construction;
//! - [`Reading::FittedCodes`] (c): no CLLM2; each family text's code fitted through
//!   CLLM1's frozen decoder ([`cllm_autoencoder::code_fit`]).

use std::path::Path;

use burn::tensor::backend::{AutodiffBackend, Backend};
use cllm_autoencoder::code_fit::{fit_codes, FittedCodes};
use cllm_autoencoder::text_metrics::{positional_accuracy, word_f1};
use cllm_autoencoder::{run_train_job, Cllm, DecodeOptions, RunControl, TrainJob};
use cllm_core::{Backbone, ContentKey, Document, KeyBuilder, LanguageModel, TextVector};
use cllm_void::VoidReport;
use serde::{Deserialize, Serialize};

use super::membership::{membership, validation_scores, Membership};
use super::split::{Part, Space, Split};
use super::{finished_or_run, DecodeJudges, ExperimentOptions, CLLM1};
use crate::error::Result;
use crate::metrics::{bootstrap_rate, Interval};

/// A set of codes of texts, read by CLLM1's decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// CLLM1's own codes of the family's texts.
    Cllm1,
    /// CLLM1's codes of validation texts.
    ValidationTexts,
    /// (a) CLLM2 = CLLM1 fine-tuned on the family (with replay).
    WholeModel,
    /// (b) CLLM2 = CLLM1's encoder fine-tuned on the family, its decoder frozen.
    EncoderOnly,
    /// (c) Codes fitted through CLLM1's frozen decoder.
    FittedCodes,
}

impl Reading {
    /// What the reading is, in the report's words.
    pub fn describe(self) -> &'static str {
        match self {
            Reading::Cllm1 => "CLLM1's own codes of the family",
            Reading::ValidationTexts => "CLLM1's codes of validation texts (floor)",
            Reading::WholeModel => "(a) CLLM2 = CLLM1 fine-tuned on the family",
            Reading::EncoderOnly => "(b) CLLM2 = CLLM1's encoder fine-tuned, decoder frozen",
            Reading::FittedCodes => "(c) codes fitted through CLLM1's frozen decoder",
        }
    }

    /// The run directory of a fine-tuning reading.
    fn run_dir(self) -> Option<&'static str> {
        match self {
            Reading::WholeModel => Some("cllm2-whole"),
            Reading::EncoderOnly => Some("cllm2-encoder"),
            _ => None,
        }
    }
}

/// How CLLM1's decoder reads a set of codes (greedy, no repeated trigram).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossDecoding {
    /// Decodes scored.
    pub texts: usize,
    /// Share of decodes that read as the held-out family by the corpus's family rules
    /// (`None` for a family without a text rule).
    pub reads_as_family: Option<Interval>,
    /// Share of the originals that read as the family by the same rules (the ceiling).
    pub originals_read_as_family: Option<f64>,
    /// Mean P(family) of the decodes by the content-based scorer, names masked
    /// ([`crate::likeness`]), with its bootstrap interval; `None` without a scorer.
    #[serde(default)]
    pub family_likeness: Option<Interval>,
    /// Classifier two-sample AUROC of the decodes against held-out real texts
    /// ([`crate::realism`]; 0.5 = indistinguishable); `None` when too few to test.
    #[serde(default)]
    pub two_sample_auroc: Option<f64>,
    /// Mean word F1 of decode and original (two random recipes score about 0.29).
    pub word_f1: f64,
    /// Share of distinct texts among the decodes (1 = every code decodes to its own text;
    /// near 0 = the decoder ignores the code: posterior collapse).
    pub distinct_decodes: f64,
    /// Mean share of original tokens decoded at their position.
    pub token_accuracy: f64,
    /// Every decode beside its original (300 characters each), in the part's order.
    pub examples: Vec<DecodeExample>,
    /// The same codes decoded under the base LLM's guidance (`None` unless the experiment
    /// asked for guided readings).
    #[serde(default)]
    pub guided: Option<GuidedDecoding>,
}

/// How CLLM1's decoder reads a set of codes with the base LLM's guidance (shallow fusion:
/// decoder + λ · SmolLM2 per token): SmolLM2 knows pizza, CLLM1's decoder barely does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuidedDecoding {
    /// λ.
    pub lm_weight: f32,
    /// Mean P(family) by content ([`crate::likeness`]).
    pub family_likeness: Option<Interval>,
    /// Classifier two-sample AUROC against held-out real texts.
    pub two_sample_auroc: Option<f64>,
    /// Share of decodes that name the family.
    pub reads_as_family: Option<Interval>,
    /// Mean word F1 of decode and original.
    pub word_f1: f64,
    /// Share of distinct decodes.
    pub distinct_decodes: f64,
    /// The first decodes beside their originals.
    pub examples: Vec<DecodeExample>,
}

/// One decode beside its original.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodeExample {
    /// The original's title.
    pub title: String,
    /// The original (as the backbone's tokens spell it, cut to the model's length).
    pub original: String,
    /// What CLLM1's decoder made of the code.
    pub decoded: String,
}

/// One reading's codes: where they lie and how CLLM1's decoder reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingResult {
    /// The reading.
    pub reading: Reading,
    /// [`Reading::describe`].
    pub description: String,
    /// Where the codes lie.
    pub membership: Membership,
    /// How CLLM1's decoder reads them.
    pub cross_decoding: CrossDecoding,
    /// Reading (c): restoration loss before and after fitting; (a), (b): the fine-tuning's
    /// steps and wall time.
    pub note: String,
}

/// Runs the baselines and every reading of `opts.readings`.
#[allow(clippy::too_many_arguments)]
pub fn run<B: AutodiffBackend>(
    opts: &ExperimentOptions,
    out_dir: &Path,
    cllm1: &Cllm<B::InnerBackend>,
    split: &Split,
    space: &Space,
    zones: &VoidReport,
    backbone: &dyn Backbone,
    judges: &DecodeJudges,
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<Vec<ReadingResult>> {
    let val_scores = validation_scores(opts, space)?;
    let score = |reading: Reading, codes: &[Vec<f32>], part: &Part, note: String| {
        tracing::info!(reading = reading.describe(), "cross-decoding");
        Ok::<_, crate::EvalError>(ReadingResult {
            reading,
            description: reading.describe().into(),
            membership: membership(opts, codes, space, &val_scores, zones)?,
            cross_decoding: cross_decode(
                opts,
                cllm1,
                codes,
                part,
                reading.describe(),
                backbone,
                judges,
            )?,
            note,
        })
    };
    let mut out = vec![
        score(Reading::Cllm1, &space.family, &split.family, String::new())?,
        score(
            Reading::ValidationTexts,
            &space.val[..split.val.len().min(opts.texts_per_split)],
            &split.val.first(opts.texts_per_split),
            String::new(),
        )?,
    ];
    // what every reading derived from CLLM1 records, hashed once
    let cllm1_key = cllm_autoencoder::codec::files::model_key(&out_dir.join(CLLM1).join("model"))?;
    for &reading in &opts.readings {
        let (codes, note) = match reading {
            Reading::WholeModel | Reading::EncoderOnly => fine_tuned_codes::<B>(
                opts, out_dir, &cllm1_key, reading, split, backbone, docs, device, control,
            )?,
            Reading::FittedCodes => {
                fitted_codes::<B>(opts, out_dir, &cllm1_key, split, space, device)?
            }
            Reading::Cllm1 | Reading::ValidationTexts => continue,
        };
        out.push(score(reading, &codes, &split.family, note)?);
    }
    Ok(out)
}

/// Readings (a) and (b): fine-tunes CLLM1 on the family (or reuses the finished run) and
/// encodes the family's texts with the result.
#[allow(clippy::too_many_arguments)]
fn fine_tuned_codes<B: AutodiffBackend>(
    opts: &ExperimentOptions,
    out_dir: &Path,
    cllm1_key: &ContentKey,
    reading: Reading,
    split: &Split,
    backbone: &dyn Backbone,
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<(Vec<Vec<f32>>, String)> {
    let mut options = opts.cllm1.clone();
    options.init_key = Some(cllm1_key.clone());
    options.init_from = Some(out_dir.join(CLLM1).join("model"));
    options.max_steps = opts.finetune_steps;
    options.warmup_steps = (opts.finetune_steps / 4).clamp(1, 10);
    options.time_budget_s = opts.finetune_time_s;
    options.schedule_over_time = false;
    options.learning_rate = opts.finetune_lr;
    options.replay_fraction = opts.replay_fraction;
    options.freeze_decoder = reading == Reading::EncoderOnly;
    options.eval_every = 0;
    options.patience = None;
    let dir = out_dir.join(reading.run_dir().unwrap_or("cllm2"));
    forget_if_from_another_cllm1(&dir, &options)?;
    let mut job = TrainJob::new(options, &dir);
    job.family = Some(opts.family.clone());
    job.report_texts = opts.texts_per_split.min(16);
    let report = finished_or_run(&job, || {
        Ok(run_train_job::<B>(&job, backbone, docs, device, control)?)
    })?;
    let cllm2 = Cllm::<B::InnerBackend>::load(&dir.join("model"), device)?;
    let codes = cllm2
        .encode_ids(&split.family.ids)?
        .into_iter()
        .map(|v| v.as_slice().to_vec())
        .collect();
    let note = format!(
        "{} fine-tuning steps ({:.2} epochs of the family) in {:.0} s",
        report.steps, report.epochs, report.wall_s
    );
    Ok((codes, note))
}

/// `fitted-codes.json`: the fitted codes and the key of what they were fitted from.
#[derive(Serialize, Deserialize)]
struct KeptFit {
    made_from: ContentKey,
    fit: FittedCodes,
}

/// Removes the fine-tuning run in `dir` when it started from another CLLM1 than
/// `options.init_key` names (or from one it did not record), saying so: its checkpoints
/// and report describe a model this experiment no longer has.
fn forget_if_from_another_cllm1(
    dir: &Path,
    options: &cllm_autoencoder::TrainOptions,
) -> Result<()> {
    let Some(saved) = cllm_autoencoder::saved_run_options(dir)? else {
        return Ok(());
    };
    if saved.init_key != options.init_key {
        tracing::warn!(
            run = %dir.display(),
            "fine-tuned from another CLLM1 than the one in this folder now; fine-tuning again"
        );
        std::fs::remove_dir_all(dir).map_err(|e| crate::EvalError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    Ok(())
}

/// Reading (c): fits the family's codes through CLLM1's frozen decoder, starting from
/// CLLM1's own codes (kept in `fitted-codes.json`).
fn fitted_codes<B: AutodiffBackend>(
    opts: &ExperimentOptions,
    out_dir: &Path,
    cllm1_key: &ContentKey,
    split: &Split,
    space: &Space,
    device: &B::Device,
) -> Result<(Vec<Vec<f32>>, String)> {
    let path = out_dir.join("fitted-codes.json");
    // what the fit reads: CLLM1, the family's texts, the starting codes, the options
    let made_from = split
        .family
        .ids
        .iter()
        .zip(&space.family)
        .fold(
            KeyBuilder::default().key(cllm1_key).json(&opts.code_fit),
            |k, (ids, start)| {
                k.bytes(
                    &ids.iter()
                        .flat_map(|i| i.to_le_bytes())
                        .collect::<Vec<u8>>(),
                )
                .floats(start)
            },
        )
        .finish();
    let kept = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<KeptFit>(&t).ok());
    if kept.as_ref().is_some_and(|k| k.made_from != made_from) {
        tracing::warn!(path = %path.display(), "codes fitted for another CLLM1, family or options; fitting again");
    }
    let fitted: FittedCodes = match kept.filter(|k| k.made_from == made_from) {
        Some(k) => k.fit,
        None => {
            let cllm = Cllm::<B>::load(&out_dir.join(CLLM1).join("model"), device)?;
            tracing::info!(
                texts = split.family.len(),
                steps = opts.code_fit.steps,
                "fitting codes"
            );
            let f = fit_codes(&cllm, &split.family.ids, &space.family, &opts.code_fit)?;
            let json = serde_json::to_vec(&KeptFit {
                made_from,
                fit: f.clone(),
            })
            .map_err(|e| crate::EvalError::InvalidInput(e.to_string()))?;
            cllm_core::write_atomic(&path, &json).map_err(|e| crate::EvalError::Io {
                path: path.clone(),
                source: e,
            })?;
            f
        }
    };
    let note = format!(
        "restoration loss {:.3} -> {:.3} after {} Adam steps on the codes",
        fitted.first_loss, fitted.last_loss, opts.code_fit.steps
    );
    Ok((fitted.codes, note))
}

/// CLLM1's decoder reads `codes`; the decodes are scored against the part's texts.
pub(crate) fn cross_decode<B: Backend>(
    opts: &ExperimentOptions,
    cllm1: &Cllm<B>,
    codes: &[Vec<f32>],
    part: &Part,
    part_label: &str,
    backbone: &dyn Backbone,
    judges: &DecodeJudges,
) -> Result<CrossDecoding> {
    let vectors: Vec<TextVector> = codes
        .iter()
        .map(|c| TextVector::new(c.clone()))
        .collect::<std::result::Result<_, _>>()?;
    let decode = DecodeOptions {
        max_tokens: Some(cllm1.config().max_len + 1),
        ..DecodeOptions::default()
    };
    let plain = decode_scored(
        opts, cllm1, &vectors, &decode, None, part, part_label, backbone, judges,
    )?;
    let guided = match judges.guide {
        Some((lm, weight)) if weight > 0.0 => {
            let options = DecodeOptions {
                lm_weight: weight,
                ..decode.clone()
            };
            let label = format!("{part_label}, guided");
            let g = decode_scored(
                opts,
                cllm1,
                &vectors,
                &options,
                Some(lm),
                part,
                &label,
                backbone,
                judges,
            )?;
            Some(GuidedDecoding {
                lm_weight: weight,
                family_likeness: g.family_likeness,
                two_sample_auroc: g.two_sample_auroc,
                reads_as_family: g.reads_as_family,
                word_f1: g.word_f1,
                distinct_decodes: g.distinct_decodes,
                examples: g.examples.into_iter().take(GUIDED_EXAMPLES).collect(),
            })
        }
        _ => None,
    };
    Ok(CrossDecoding { guided, ..plain })
}

/// Decoded examples kept per guided reading.
const GUIDED_EXAMPLES: usize = 3;

/// Decodes `vectors` (guided by `lm` when `decode.lm_weight` > 0) and scores the decodes
/// against the part's texts.
#[allow(clippy::too_many_arguments)]
fn decode_scored<B: Backend>(
    opts: &ExperimentOptions,
    cllm1: &Cllm<B>,
    vectors: &[TextVector],
    decode: &DecodeOptions,
    lm: Option<&dyn LanguageModel>,
    part: &Part,
    part_label: &str,
    backbone: &dyn Backbone,
    judges: &DecodeJudges,
) -> Result<CrossDecoding> {
    let decoded = super::progress::decode_with_bar(
        cllm1,
        vectors,
        decode,
        lm,
        &format!("decoding {}", part_label),
        opts.progress,
    )?;
    let (mut f1, mut acc, mut reads, mut originals) = (0.0, 0.0, Vec::new(), 0usize);
    let mut distinct = std::collections::HashSet::new();
    let mut examples = Vec::new();
    let mut texts = Vec::new();
    for (i, d) in decoded.iter().enumerate() {
        let text = backbone.detokenize(&d.ids)?;
        let original = backbone.detokenize(&part.ids[i])?;
        distinct.insert(d.ids.clone());
        f1 += word_f1(&text, &original);
        acc += positional_accuracy(&d.ids, &part.ids[i]);
        reads.push(reads_as(&text, &opts.family));
        originals += usize::from(reads_as(&original, &opts.family));
        texts.push(text.clone());
        examples.push(DecodeExample {
            title: part.titles[i].clone(),
            original: original.chars().take(300).collect(),
            decoded: text.chars().take(300).collect(),
        });
    }
    let n = decoded.len().max(1) as f64;
    let known = family_has_rule(&opts.family);
    Ok(CrossDecoding {
        texts: decoded.len(),
        reads_as_family: known
            .then(|| bootstrap_rate(&reads, opts.bootstrap, opts.seed))
            .transpose()?,
        originals_read_as_family: known.then_some(originals as f64 / n),
        family_likeness: judges.family_likeness(&texts, opts)?,
        two_sample_auroc: judges.two_sample_auroc(&texts),
        word_f1: f1 / n,
        distinct_decodes: distinct.len() as f64 / n,
        token_accuracy: acc / n,
        examples,
        guided: None,
    })
}

/// Whether the corpus's family rules read `text` as `family`.
pub(crate) fn reads_as(text: &str, family: &str) -> bool {
    cllm_corpus::families_of_text(text)
        .iter()
        .any(|f| f.as_str() == family)
}

/// Whether the corpus has a text rule for `family`.
pub(crate) fn family_has_rule(family: &str) -> bool {
    cllm_corpus::family::FAMILIES
        .iter()
        .any(|f| f.as_str() == family)
}
