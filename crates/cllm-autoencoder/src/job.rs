//! The whole training job that `cllm train` runs: corpus → token cache (computed once and
//! kept in the output directory) → [`train`] (resumable) → the best model scored on every
//! split, written to `out/eval.json`.
//!
//! A CLLM1 run trains on the corpus with the held-out families set aside; a CLLM2 run
//! (`family = Some("soup")`, `init_from = CLLM1's model`) fine-tunes on one family, with the
//! rest of the corpus as the replay corpus, and reports the old corpus too (forgetting).

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use cllm_backbone::LlamaBackbone;
use cllm_core::{Backbone, Document};
use serde::{Deserialize, Serialize};

use crate::cache::TokenCache;
use crate::codec::Cllm;
use crate::error::{AutoencoderError, Result};
use crate::eval::{auroc, void_scores, EvalReport};
use crate::persist;
use crate::semantic::SemanticTargets;
use crate::train::{train, RunControl, TrainData, TrainOptions, TrainReport};

/// A training job: the run's options plus where its data comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainJob {
    /// The training run.
    pub options: TrainOptions,
    /// The output directory (see [`crate::train`]); also holds the token cache.
    pub out_dir: PathBuf,
    /// Train on this family only (CLLM2); the rest of the corpus becomes the replay corpus.
    pub family: Option<String>,
    /// Sentence embeddings for the semantic alignment term (a vector file).
    pub semantic: Option<PathBuf>,
    /// The backbone token that pads texts and marks their end.
    pub pad_token: String,
    /// Texts per split scored in the final report.
    pub report_texts: usize,
    /// Training texts encoded as the reference set of the void-score separation test.
    pub separation_reference: usize,
}

impl TrainJob {
    /// A job with the given options and output directory; SmolLM2's `<|im_end|>` pads,
    /// 256 texts per split in the report.
    pub fn new(options: TrainOptions, out_dir: impl Into<PathBuf>) -> Self {
        Self {
            options,
            out_dir: out_dir.into(),
            family: None,
            semantic: None,
            pad_token: "<|im_end|>".into(),
            report_texts: 256,
            separation_reference: 2000,
        }
    }
}

/// The score of the trained model on one split, with one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitResult {
    /// `train`, `val`, a held-out family, or `replay` (the old corpus of a fine-tuning run).
    pub name: String,
    /// Token accuracy and exact-text rate.
    pub report: EvalReport,
    /// The split's first text (first 300 characters).
    pub example_original: String,
    /// What the model restores of it (first 300 characters).
    pub example_decoded: String,
}

/// How far a held-out family lies from the training data in text-vector space: the void
/// score (mean distance to the 10 nearest training vectors) of the family's texts against
/// that of the validation texts, as an AUROC (0.5 = the family is no farther away than
/// unseen texts of the training families; 1 = every family text is farther).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilySeparation {
    /// The held-out family.
    pub family: String,
    /// Its texts scored.
    pub texts: usize,
    /// Validation texts scored.
    pub val_texts: usize,
    /// Training texts in the reference set.
    pub reference_texts: usize,
    /// AUROC of family vs validation void scores.
    pub auroc: f64,
}

/// What a job did: the training report's summary and the per-split scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    /// The job.
    pub job: TrainJob,
    /// Steps done in all sessions.
    pub steps: usize,
    /// Epochs over the training split.
    pub epochs: f64,
    /// Training wall time over all sessions, seconds.
    pub wall_s: f64,
    /// Trainable parameters.
    pub params: usize,
    /// Texts per split.
    pub split_sizes: Vec<(String, usize)>,
    /// Corpus vocabulary size `|V|`.
    pub vocab: usize,
    /// Fraction of texts truncated to `max_len`.
    pub truncated_fraction: f64,
    /// The best model's scores.
    pub splits: Vec<SplitResult>,
    /// Held-out families against validation texts in the best model's vector space.
    pub separation: Vec<FamilySeparation>,
}

/// The file name of a job's report inside its output directory.
pub const EVAL_FILE: &str = "eval.json";

/// Runs (or resumes) a training job on `docs` with `backbone` (layer 0), then scores the
/// best model on every split and writes [`EVAL_FILE`] atomically.
///
/// `B` is the autodiff training backend; the backbone and the evaluation run on its inner
/// backend. An interrupt (see [`RunControl`]) returns [`AutoencoderError::Interrupted`]
/// after a checkpoint; running the same job again resumes it.
pub fn run_train_job<B: AutodiffBackend>(
    job: &TrainJob,
    backbone: &LlamaBackbone<B::InnerBackend>,
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<JobReport> {
    let mut opts = job.options.clone();
    let pad_id = backbone
        .tokenizer()
        .token_to_id(&job.pad_token)
        .ok_or_else(|| {
            AutoencoderError::InvalidConfig(format!(
                "the backbone's tokenizer has no {:?} token to pad with",
                job.pad_token
            ))
        })?;
    std::fs::create_dir_all(&job.out_dir).map_err(|e| AutoencoderError::io(&job.out_dir, e))?;
    let cache = cached_tokens(
        &job.out_dir,
        docs,
        backbone,
        job.options.model.max_len,
        pad_id,
    )?;
    let truncated_fraction = cache.truncated_fraction();
    let (cache, replay) = match &job.family {
        Some(f) => {
            let (mine, rest): (Vec<_>, Vec<_>) = cache
                .texts
                .iter()
                .cloned()
                .partition(|t| t.family.as_deref() == Some(f.as_str()));
            if mine.is_empty() {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "no text of family {f:?} in the corpus"
                )));
            }
            opts.split.held_out_families.retain(|h| h != f);
            let name = cache.backbone.clone();
            (
                TokenCache::from_texts(name.clone(), cache.max_len, pad_id, mine)?,
                (!rest.is_empty())
                    .then(|| TokenCache::from_texts(name, cache.max_len, pad_id, rest))
                    .transpose()?,
            )
        }
        None => (cache, None),
    };
    let table = embedding_table(backbone)?;
    let mut data = TrainData::new(cache, replay, &table, backbone.width())?;
    if let Some(path) = &job.semantic {
        data = data.with_semantic(SemanticTargets::load(path)?)?;
    }
    tracing::info!(
        texts = data.cache.len(),
        vocab = data.vocab.len(),
        truncated = truncated_fraction,
        "corpus ready"
    );

    let report: TrainReport = train::<B>(&data, &opts, &job.out_dir, device, control)?;

    // ---- the best model on every split
    let cllm = Cllm::<B::InnerBackend>::load(&report.model_dir, device)?;
    let split = data.cache.split(&opts.split);
    let take = |cache: &TokenCache, idx: &[usize]| -> Vec<Vec<u32>> {
        idx.iter()
            .take(job.report_texts)
            .map(|&i| cache.texts[i].ids.clone())
            .collect()
    };
    let mut groups = vec![
        ("train".to_string(), take(&data.cache, &split.train)),
        ("val".to_string(), take(&data.cache, &split.val)),
    ];
    groups.extend(
        split
            .held_out
            .iter()
            .map(|(k, v)| (k.clone(), take(&data.cache, v))),
    );
    if let Some(r) = &data.replay {
        groups.push(("replay".into(), take(r, &r.split(&opts.split).train)));
    }
    let mut splits = Vec::new();
    for (name, texts) in groups {
        if texts.is_empty() {
            continue;
        }
        let (r, decoded) = cllm.evaluate_ids(&texts)?;
        let clip = |s: String| s.chars().take(300).collect::<String>();
        splits.push(SplitResult {
            name,
            report: r,
            example_original: clip(backbone.detokenize(&texts[0])?),
            example_decoded: clip(backbone.detokenize(&decoded[0])?),
        });
    }
    let separation = separation(&cllm, &data.cache, &split, job.separation_reference)?;
    for s in &separation {
        tracing::info!(family = %s.family, auroc = s.auroc, "void-score separation");
    }
    let out = JobReport {
        job: job.clone(),
        steps: report.steps,
        epochs: report.epochs,
        wall_s: report.wall_s,
        params: report.params,
        split_sizes: report.split_sizes,
        vocab: data.vocab.len(),
        truncated_fraction,
        splits,
        separation,
    };
    persist::write_json(&job.out_dir.join(EVAL_FILE), &out)?;
    Ok(out)
}

/// Void-score AUROC of every held-out family against the validation split (see
/// [`FamilySeparation`]); empty when there is no validation split.
fn separation<B: burn::tensor::backend::Backend>(
    cllm: &Cllm<B>,
    cache: &TokenCache,
    split: &crate::cache::Split,
    reference: usize,
) -> Result<Vec<FamilySeparation>> {
    if split.val.is_empty() || split.train.is_empty() {
        return Ok(Vec::new());
    }
    let encode = |idx: &[usize], n: usize| -> Result<Vec<Vec<f32>>> {
        let ids: Vec<Vec<u32>> = idx
            .iter()
            .take(n)
            .map(|&i| cache.texts[i].ids.clone())
            .collect();
        Ok(cllm
            .encode_ids(&ids)?
            .into_iter()
            .map(|v| v.as_slice().to_vec())
            .collect())
    };
    let reference = encode(&split.train, reference)?;
    let val = void_scores(&reference, &encode(&split.val, usize::MAX)?, 10);
    let mut out = Vec::new();
    for (family, idx) in &split.held_out {
        if idx.is_empty() {
            continue;
        }
        let fam = void_scores(&reference, &encode(idx, usize::MAX)?, 10);
        out.push(FamilySeparation {
            family: family.clone(),
            texts: fam.len(),
            val_texts: val.len(),
            reference_texts: reference.len(),
            auroc: auroc(&fam, &val),
        });
    }
    Ok(out)
}

/// The corpus tokenized once: loaded from `out_dir/tokens-L{max_len}.safetensors` when it
/// holds exactly these documents, else built and saved there.
fn cached_tokens(
    out_dir: &Path,
    docs: &[Document],
    backbone: &dyn Backbone,
    max_len: usize,
    pad_id: u32,
) -> Result<TokenCache> {
    let path = out_dir.join(format!("tokens-L{max_len}.safetensors"));
    if path.exists() {
        match TokenCache::load(&path) {
            Ok(c) if c.pad_id == pad_id && c.backbone == backbone.name() && same_docs(&c, docs) => {
                return Ok(c)
            }
            Ok(_) => {
                tracing::warn!(path = %path.display(), "token cache is for other documents or another backbone; rebuilding")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable token cache; rebuilding")
            }
        }
    }
    let cache = TokenCache::build(docs, backbone, max_len, pad_id)?;
    cache.save(&path)?;
    Ok(cache)
}

/// Whether `cache` holds `docs` in order (texts skipped at build time must be blank).
fn same_docs(cache: &TokenCache, docs: &[Document]) -> bool {
    let mut cached = cache.texts.iter().peekable();
    for d in docs {
        match cached.peek() {
            Some(t) if t.id == d.id => {
                cached.next();
            }
            _ if d.text.trim().is_empty() => {}
            _ => return false,
        }
    }
    cached.next().is_none()
}

/// The backbone's input embedding table `[vocab × width]`, row-major.
fn embedding_table<B: burn::tensor::backend::Backend>(
    backbone: &LlamaBackbone<B>,
) -> Result<Vec<f32>> {
    backbone
        .model()
        .embed_tokens
        .weight
        .val()
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| AutoencoderError::Tensor(format!("{e:?}")))
}
