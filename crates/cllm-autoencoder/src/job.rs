//! The whole training job that `cllm train` runs: corpus → token cache (computed once and
//! kept in the output directory) → [`train`] (resumable) → the best model scored on every
//! split, written to `out/eval.json`.
//!
//! A CLLM1 run trains on the corpus with the held-out families set aside; a CLLM2 run
//! (`family = Some("soup")`, `init_from = CLLM1's model`) fine-tunes on one family, with the
//! rest of the corpus as the replay corpus, and reports the old corpus too (forgetting).

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use cllm_core::{Backbone, Document};
use serde::{Deserialize, Serialize};

use crate::cache::{CacheSpec, OverLength, TokenCache};
use crate::code_shape::{shape_report, ShapeReport, TextLabels};
use crate::codec::Cllm;
use crate::decoding::DecodeOptions;
use crate::error::{AutoencoderError, Result};
use crate::eval::{auroc, knn_void_scores, EvalReport};
use crate::lookup::TrainingLookup;
use crate::persist;
use crate::semantic::SemanticTargets;
use crate::text_metrics::{positional_accuracy, repeated_trigram_rate, word_f1, word_set};
use crate::train::{train, RunControl, TrainData, TrainOptions, TrainReport};
use crate::vocab::VocabTable;

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
    /// Texts over the model's `max_len` tokens: cut and counted (the default) or refused.
    #[serde(default, skip_serializing_if = "OverLength::is_cut")]
    pub over_length: OverLength,
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
            over_length: OverLength::Cut,
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
    /// The split's first text (first 300 characters; token ids when the job ran without
    /// a backbone).
    pub example_original: String,
    /// What the model restores of it (first 300 characters): the free-running decode.
    pub example_decoded: String,
    /// Free-running reconstruction (greedy, no repeated token trigram): what a user of
    /// `cllm decode` sees. For the mirror it equals the restore above.
    pub free_running: FreeRunning,
}

/// Scores of free-running decodes of a split's texts against their originals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreeRunning {
    /// Texts decoded.
    pub texts: usize,
    /// Share of original tokens decoded at their position.
    pub token_accuracy: f64,
    /// Share of texts decoded exactly (every token and the end).
    pub exact_text_rate: f64,
    /// Mean word F1 of decode and original ([`word_f1`]; `None` without a backbone to
    /// detokenize with). Two random recipes score about 0.29.
    pub word_f1: Option<f64>,
    /// Mean share of repeated word trigrams in the decodes (`None` without a backbone).
    pub repeated_trigrams: Option<f64>,
    /// Mean word F1 of the reference training text whose vector lies nearest the text's
    /// (the text itself left out): what looking the text up in the training data instead of
    /// decoding its vector scores ([`TrainingLookup`]). `None` without a backbone.
    #[serde(default)]
    pub nearest_training_word_f1: Option<f64>,
    /// Mean of the best word F1 that any reference training text reaches against the text:
    /// the most a lookup could score, knowing the answer. `None` without a backbone.
    #[serde(default)]
    pub best_training_word_f1: Option<f64>,
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
    /// The shape of the best model's codes of the reference training texts (the same
    /// sample the void scores read against): how many directions they use and what the
    /// first one separates. `None` in reports written before it was measured.
    #[serde(default)]
    pub code_shape: Option<ShapeReport>,
}

/// The file name of a job's report inside its output directory.
pub const EVAL_FILE: &str = "eval.json";

/// Runs (or resumes) a training job on `docs` with `backbone` (layer 0), then scores the
/// best model on every split and writes [`EVAL_FILE`] atomically.
///
/// `B` is the autodiff training backend; the evaluation runs on its inner backend. The
/// backbone is any [`Backbone`]: the job reads its tokenizer, its pad token
/// ([`Backbone::token_id`]) and its embedding table ([`Backbone::embedding_table`]). An interrupt (see [`RunControl`]) returns [`AutoencoderError::Interrupted`]
/// after a checkpoint; running the same job again resumes it.
pub fn run_train_job<B: AutodiffBackend>(
    job: &TrainJob,
    backbone: &dyn Backbone,
    docs: &[Document],
    device: &B::Device,
    control: &RunControl,
) -> Result<JobReport> {
    let pad_id = pad_id(backbone, &job.pad_token)?;
    let _writer = cllm_core::FolderLock::acquire(&job.out_dir)?;
    let spec = CacheSpec {
        over_length: job.over_length,
        ..CacheSpec::new(job.options.model.max_len, pad_id)
    };
    let cache = cached_tokens(&job.out_dir, docs, backbone, &spec)?;
    let table = backbone.embedding_table()?.into_vec();
    let width = backbone.width();
    run_on_cache::<B>(
        job,
        cache,
        |cache, replay| TrainData::new(cache, replay, &table, width),
        Some(backbone),
        device,
        control,
    )
}

/// What [`prepare_data_dir`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedData {
    /// Texts in the token cache.
    pub texts: usize,
    /// Of them, texts cut to `max_len` tokens.
    pub cut: usize,
    /// Rows of the vocabulary table.
    pub vocab: usize,
    /// The two files.
    pub files: Vec<PathBuf>,
}

/// Writes a prepared data directory for [`run_prepared_train_job`] (`cllm train --data`):
/// the corpus's token cache (`tokens-L{max_len}.safetensors`, family tags included) and its
/// vocabulary table (`vocab.safetensors`). With them a machine that has neither the
/// backbone's model file nor the corpus can train: a GPU lent for minutes, say. Texts over
/// `max_len` tokens are cut, or refused with [`OverLength::Refuse`]; the cache's chunks
/// stay in `tokens-L{max_len}.chunks/` for the next (resumed or appended) build.
pub fn prepare_data_dir(
    out_dir: &Path,
    backbone: &dyn Backbone,
    docs: &[Document],
    max_len: usize,
    pad_token: &str,
    over_length: OverLength,
) -> Result<PreparedData> {
    let pad_id = pad_id(backbone, pad_token)?;
    let _writer = cllm_core::FolderLock::acquire(out_dir)?;
    let spec = CacheSpec {
        over_length,
        ..CacheSpec::new(max_len, pad_id)
    };
    let cache = cached_tokens(out_dir, docs, backbone, &spec)?;
    let texts = cache.len();
    let cut = cache.truncated();
    let table = backbone.embedding_table()?.into_vec();
    let data = TrainData::new(cache, None, &table, backbone.width())?;
    let vocab_path = out_dir.join(crate::codec::files::VOCAB);
    data.vocab.save(&vocab_path)?;
    Ok(PreparedData {
        texts,
        cut,
        vocab: data.vocab.len(),
        files: vec![out_dir.join(cache_file_name(max_len)), vocab_path],
    })
}

/// The id of the token that pads texts and marks their end.
fn pad_id(backbone: &dyn Backbone, pad_token: &str) -> Result<u32> {
    backbone.token_id(pad_token).ok_or_else(|| {
        AutoencoderError::InvalidConfig(format!(
            "the backbone's tokenizer has no {pad_token:?} token to pad with"
        ))
    })
}

/// Runs (or resumes) a training job from a prepared data directory — the output directory
/// of an earlier run, holding `tokens-L{max_len}.safetensors` and `vocab.safetensors` — with
/// no backbone and no corpus: what a GPU machine without the model files needs (28 MB for the
/// recipes). The report's examples are then token ids, not text.
pub fn run_prepared_train_job<B: AutodiffBackend>(
    job: &TrainJob,
    data_dir: &Path,
    device: &B::Device,
    control: &RunControl,
) -> Result<JobReport> {
    let _writer = cllm_core::FolderLock::acquire(&job.out_dir)?;
    let cache = TokenCache::load(&data_dir.join(cache_file_name(job.options.model.max_len)))?;
    let vocab = VocabTable::load(&data_dir.join(crate::codec::files::VOCAB))?;
    run_on_cache::<B>(
        job,
        cache,
        |cache, replay| TrainData::with_vocab(cache, replay, vocab.clone()),
        None,
        device,
        control,
    )
}

fn cache_file_name(max_len: usize) -> String {
    format!("tokens-L{max_len}.safetensors")
}

/// The common part of both job kinds: family split (CLLM2), data, training, report.
fn run_on_cache<B: AutodiffBackend>(
    job: &TrainJob,
    cache: TokenCache,
    make_data: impl FnOnce(TokenCache, Option<TokenCache>) -> Result<TrainData>,
    backbone: Option<&dyn Backbone>,
    device: &B::Device,
    control: &RunControl,
) -> Result<JobReport> {
    let mut opts = job.options.clone();
    if let Some(init) = &opts.init_from {
        let found = crate::codec::files::model_key(init)?;
        match &opts.init_key {
            Some(asked) if *asked != found => {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "{} holds another model than the one this run was asked to fine-tune \
                     (content key {} ≠ {})",
                    init.display(),
                    short(found.as_str()),
                    short(asked.as_str())
                )))
            }
            _ => opts.init_key = Some(found),
        }
    }
    let pad_id = cache.pad_id;
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
    opts.data_key = Some(
        std::iter::once(&cache)
            .chain(replay.as_ref())
            .fold(cllm_core::KeyBuilder::default(), |k, c| c.keyed(k))
            .finish(),
    );
    let mut data = make_data(cache, replay)?;
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
    let seed = opts.split.seed;
    let sample = |cache: &TokenCache, idx: &[usize], n: usize| -> Vec<Vec<u32>> {
        seeded_sample(idx, n, seed)
            .into_iter()
            .map(|i| cache.texts[i].ids.clone())
            .collect()
    };
    let take = |cache: &TokenCache, idx: &[usize]| sample(cache, idx, job.report_texts);
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
        // the old corpus (forgetting), and its held-out families (e.g. pizza for a soup CLLM2)
        let rs = r.split(&opts.split);
        groups.push(("replay".into(), take(r, &rs.train)));
        groups.extend(
            rs.held_out
                .iter()
                .map(|(k, v)| (format!("replay:{k}"), take(r, v))),
        );
    }
    let show = |ids: &[u32]| -> Result<String> {
        let text = match backbone {
            Some(b) => b.detokenize(ids)?,
            None => format!("{ids:?}"),
        };
        Ok(text.chars().take(300).collect())
    };
    // the training texts that the void scores and the lookup baseline read against
    let reference_idx = seeded_sample(&split.train, job.separation_reference, seed);
    let reference_ids: Vec<Vec<u32>> = reference_idx
        .iter()
        .map(|&i| data.cache.texts[i].ids.clone())
        .collect();
    let reference = vectors_of(&cllm, &reference_ids)?;
    let code_shape = (reference.len() >= 2)
        .then(|| {
            let labels: Vec<TextLabels> = reference_idx
                .iter()
                .map(|&i| {
                    let t = &data.cache.texts[i];
                    TextLabels::from_id(&t.id, t.family.as_deref())
                })
                .collect();
            shape_report(&reference, &labels)
        })
        .transpose()?;
    if let Some(s) = &code_shape {
        tracing::info!(
            participation_ratio = s.shape.participation_ratio,
            directions_90 = s.shape.directions_90,
            first_direction_share = s.shape.first_direction_share,
            mean_abs_correlation = s.shape.mean_abs_correlation,
            "code shape of the training vectors"
        );
    }
    let separation = separation(&cllm, &data.cache, &split, &reference)?;
    for s in &separation {
        tracing::info!(family = %s.family, auroc = s.auroc, "void-score separation");
    }
    let lookup = match backbone {
        Some(b) => {
            let words = reference_ids
                .iter()
                .map(|t| Ok(word_set(&b.detokenize(t)?)))
                .collect::<Result<_>>()?;
            Some(TrainingLookup::new(reference_ids, reference, words)?)
        }
        None => None,
    };
    let mut splits = Vec::new();
    for (name, texts) in groups {
        if texts.is_empty() {
            continue;
        }
        let (r, _) = cllm.evaluate_ids(&texts)?;
        let (free_running, decoded) = free_running(&cllm, &texts, backbone, lookup.as_ref())?;
        splits.push(SplitResult {
            name,
            report: r,
            example_original: show(&texts[0])?,
            example_decoded: show(&decoded[0])?,
            free_running,
        });
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
        code_shape,
    };
    persist::write_json(&job.out_dir.join(EVAL_FILE), &out)?;
    Ok(out)
}

/// The text vectors of texts given as token ids, as plain rows.
fn vectors_of<B: burn::tensor::backend::Backend>(
    cllm: &Cllm<B>,
    texts: &[Vec<u32>],
) -> Result<Vec<Vec<f32>>> {
    Ok(cllm
        .encode_ids(texts)?
        .into_iter()
        .map(|v| v.as_slice().to_vec())
        .collect())
}

/// Encodes `texts`, decodes them free-running, and scores the decodes (and, with a
/// backbone and a lookup, what the nearest training texts would score instead).
fn free_running<B: burn::tensor::backend::Backend>(
    cllm: &Cllm<B>,
    texts: &[Vec<u32>],
    backbone: Option<&dyn Backbone>,
    lookup: Option<&TrainingLookup>,
) -> Result<(FreeRunning, Vec<Vec<u32>>)> {
    let vectors = cllm.encode_ids(texts)?;
    let opts = DecodeOptions {
        max_tokens: Some(cllm.config().max_len + 1),
        ..DecodeOptions::default()
    };
    let decoded = cllm.generate(&vectors, &opts)?;
    let n = texts.len().max(1) as f64;
    let mut acc = 0.0;
    let mut exact = 0usize;
    for (t, d) in texts.iter().zip(&decoded) {
        acc += positional_accuracy(&d.ids, t);
        exact += usize::from(d.ended && d.ids == *t);
    }
    let (mut f1, mut rep, mut looked_up) = (None, None, None);
    if let Some(b) = backbone {
        let (mut f, mut r) = (0.0, 0.0);
        let mut originals = Vec::with_capacity(texts.len());
        for (t, d) in texts.iter().zip(&decoded) {
            let text = b.detokenize(&d.ids)?;
            let original = b.detokenize(t)?;
            f += word_f1(&text, &original);
            r += repeated_trigram_rate(&text);
            originals.push(word_set(&original));
        }
        (f1, rep) = (Some(f / n), Some(r / n));
        if let Some(l) = lookup {
            let rows: Vec<Vec<f32>> = vectors.iter().map(|v| v.as_slice().to_vec()).collect();
            looked_up = l.mean_scores(texts, &rows, &originals)?;
        }
    }
    let report = FreeRunning {
        texts: texts.len(),
        token_accuracy: acc / n,
        exact_text_rate: exact as f64 / n,
        word_f1: f1,
        repeated_trigrams: rep,
        nearest_training_word_f1: looked_up.map(|s| s.nearest_word_f1),
        best_training_word_f1: looked_up.map(|s| s.best_word_f1),
    };
    Ok((report, decoded.into_iter().map(|d| d.ids).collect()))
}

/// Void-score AUROC of every held-out family against the validation split (see
/// [`FamilySeparation`]); empty when there is no validation split.
fn separation<B: burn::tensor::backend::Backend>(
    cllm: &Cllm<B>,
    cache: &TokenCache,
    split: &crate::cache::Split,
    reference: &[Vec<f32>],
) -> Result<Vec<FamilySeparation>> {
    if split.val.is_empty() || reference.is_empty() {
        return Ok(Vec::new());
    }
    let encode = |idx: &[usize]| -> Result<Vec<Vec<f32>>> {
        let ids: Vec<Vec<u32>> = idx.iter().map(|&i| cache.texts[i].ids.clone()).collect();
        vectors_of(cllm, &ids)
    };
    let val = knn_void_scores(reference, &encode(&split.val)?, 10)?;
    let mut out = Vec::new();
    for (family, idx) in &split.held_out {
        if idx.is_empty() {
            continue;
        }
        let fam = knn_void_scores(reference, &encode(idx)?, 10)?;
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

/// `n` of `idx` drawn without replacement (all of them, in order, when `n ≥ len`); seeded,
/// so that reports are reproducible and not biased by corpus order.
fn seeded_sample(idx: &[usize], n: usize, seed: u64) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    if n >= idx.len() {
        return idx.to_vec();
    }
    let mut v = idx.to_vec();
    v.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x5EED_5A3B_1E00_0001,
    ));
    v.truncate(n);
    v
}

/// The corpus tokenized once, in `out_dir/tokens-L{max_len}.safetensors`: read back when
/// it holds exactly these documents, else built in resumable chunks
/// ([`TokenCache::load_or_build`]) with a progress bar on a terminal.
fn cached_tokens(
    out_dir: &Path,
    docs: &[Document],
    backbone: &dyn Backbone,
    spec: &CacheSpec,
) -> Result<TokenCache> {
    let path = out_dir.join(cache_file_name(spec.max_len));
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(docs.len() as u64);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "tokenizing {elapsed_precise} [{bar:30}] {pos}/{len} texts ({per_sec}, eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (cache, report) =
        TokenCache::load_or_build(&path, docs, backbone, spec, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
    bar.finish_and_clear();
    tracing::info!(
        texts = cache.len(),
        reused_file = report.reused_file,
        chunks = report.chunks,
        chunks_reused = report.chunks_reused,
        tokenized = report.texts_tokenized,
        cut = report.cut,
        max_len = spec.max_len,
        "token cache ready"
    );
    Ok(cache)
}

/// The first 12 hex digits of a key, for messages.
fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}
