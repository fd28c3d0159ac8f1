//! Training (`cllm train`): length-bucketed batches, AdamW with linear warm-up and cosine
//! decay, gradient clipping, validation with early stopping, atomic checkpoints and exact
//! resume, and fine-tuning from a trained model with replay of the old corpus.
//!
//! ## Output directory
//!
//! ```text
//! out/run.json                    the TrainOptions of the run
//! out/vocab.safetensors           the corpus vocabulary table
//! out/checkpoints/step-00000500/  model.mpk, optim.mpk, state.json (atomic directories)
//! out/checkpoints/latest          name of the newest checkpoint (atomic file)
//! out/model/                      the best model by validation token accuracy (a Cllm dir)
//! out/report.json                 the TrainReport
//! ```
//!
//! ## Reproducibility and resume
//!
//! Every random draw is derived from `(seed, step)` or `(seed, epoch)`: batch order,
//! input corruption, latent noise, sampled negatives, replay picks, and the backend's RNG
//! (dropout) which is re-seeded before every step. A checkpoint holds the weights, the
//! AdamW moments and the step/epoch position at full precision, so a run resumed from it
//! continues with exactly the losses of the uninterrupted run (tested on CPU). Only the
//! optional wall-clock budget is not reproducible.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::batch::{epoch_batches, normal_noise, rng_for, sampled_candidates, stream, HostBatch};
use crate::cache::{SplitOptions, TokenCache};
use crate::codec::{files, save_model_dir};
use crate::config::CllmConfig;
use crate::error::{AutoencoderError, Result};
use crate::eval::{evaluate, input_tensors, EvalReport};
use crate::head_ce::{tied_head_ce_chunked, DEFAULT_CHUNK_LOGITS};
use crate::loss::{alignment_term, clustering_term, cosine_distance, LossConfig};
use crate::model::CllmModel;
use crate::persist;
use crate::semantic::SemanticTargets;
use crate::vocab::VocabTable;

/// Everything a training run needs besides the data. Saved as `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// The architecture.
    pub model: CllmConfig,
    /// The objective.
    pub loss: LossConfig,
    /// Texts per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Learning rate at the end of the cosine decay, as a fraction of the peak.
    pub min_lr_fraction: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Total steps (the cosine decay spans them).
    pub max_steps: usize,
    /// Optional wall-clock budget in seconds (stops early; not reproducible).
    pub time_budget_s: Option<f64>,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Gradient clipping by norm (burn clips each parameter tensor's gradient norm).
    pub grad_clip_norm: Option<f32>,
    /// Fraction of input tokens replaced by the pad row (denoising; 0 = off).
    pub token_dropout: f64,
    /// Steps between validations (0 = only at the end).
    pub eval_every: usize,
    /// Validation texts per evaluation (the first ones of the split).
    pub eval_max_texts: usize,
    /// Stop after this many validations without improvement (`None` = never).
    pub patience: Option<usize>,
    /// Steps between checkpoints (0 = only at the end and on interrupt).
    pub checkpoint_every: usize,
    /// Checkpoints kept on disk.
    pub keep_checkpoints: usize,
    /// Batches per length-sorting pool (1 = no bucketing).
    pub pool_batches: usize,
    /// Seed of everything.
    pub seed: u64,
    /// Show a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// Steps between log lines (tracing `info`).
    pub log_every: usize,
    /// How the corpus is split.
    pub split: SplitOptions,
    /// Fine-tuning: start from the weights of this model directory.
    pub init_from: Option<PathBuf>,
    /// Fine-tuning: fraction of every batch drawn from the replay corpus.
    pub replay_fraction: f64,
}

impl Default for TrainOptions {
    /// The pilot's recipe: k = 16, batch 64, AdamW lr 1e-3, 100 warm-up steps, cosine
    /// decay over 5,000 steps, clipping at 1.0, soup and pizza held out, 5% validation.
    fn default() -> Self {
        Self {
            model: CllmConfig::k16(),
            loss: LossConfig::new(),
            batch_size: 64,
            learning_rate: 1e-3,
            min_lr_fraction: 0.0,
            warmup_steps: 100,
            max_steps: 5000,
            time_budget_s: None,
            weight_decay: 1e-2,
            grad_clip_norm: Some(1.0),
            token_dropout: 0.0,
            eval_every: 500,
            eval_max_texts: 512,
            patience: None,
            checkpoint_every: 500,
            keep_checkpoints: 2,
            pool_batches: 16,
            seed: 0,
            progress: true,
            log_every: 50,
            split: SplitOptions::default(),
            init_from: None,
            replay_fraction: 0.0,
        }
    }
}

impl TrainOptions {
    /// The learning rate at `step`: linear warm-up, then cosine decay to
    /// `min_lr_fraction · learning_rate` at `max_steps`.
    ///
    /// ```
    /// let o = cllm_autoencoder::TrainOptions { warmup_steps: 10, max_steps: 110, ..Default::default() };
    /// assert!(o.lr_at(0) < o.lr_at(9));
    /// assert!((o.lr_at(9) - o.learning_rate).abs() < 1e-12);
    /// assert!(o.lr_at(109) < 1e-5);
    /// ```
    pub fn lr_at(&self, step: usize) -> f64 {
        let warm = ((step + 1) as f64 / self.warmup_steps.max(1) as f64).min(1.0);
        let decay_steps = self.max_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let t = (step.saturating_sub(self.warmup_steps.saturating_sub(1)) as f64 / decay_steps)
            .min(1.0);
        let cos = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
        let min = self.min_lr_fraction.clamp(0.0, 1.0);
        self.learning_rate * warm * (min + (1.0 - min) * cos)
    }

    fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |m: &str| Err(AutoencoderError::InvalidConfig(m.into()));
        if self.batch_size == 0 || self.max_steps == 0 {
            return bad("batch_size and max_steps must be positive");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be positive");
        }
        if !(0.0..1.0).contains(&self.token_dropout) || !(0.0..1.0).contains(&self.replay_fraction)
        {
            return bad("token_dropout and replay_fraction must be in [0, 1)");
        }
        if self.loss.latent_noise < 0.0
            || self.loss.cluster_weight < 0.0
            || self.loss.mse_weight < 0.0
            || self.loss.align_weight < 0.0
        {
            return bad("loss weights must be non-negative");
        }
        Ok(())
    }
}

/// Stops a run from outside: a flag (e.g. set by a Ctrl-C handler) and/or a step count.
/// Either way the run writes a checkpoint and returns [`AutoencoderError::Interrupted`].
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Set to stop after the current step.
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop (as if interrupted) once this many steps are done.
    pub stop_after_steps: Option<usize>,
}

/// The data of a run: the corpus, an optional replay corpus (fine-tuning), and the
/// vocabulary table covering both.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// The corpus trained on.
    pub cache: TokenCache,
    /// The old corpus replayed while fine-tuning.
    pub replay: Option<TokenCache>,
    /// The vocabulary table.
    pub vocab: VocabTable,
    /// Sentence embeddings for the semantic alignment term (by document id).
    pub semantic: Option<SemanticTargets>,
}

impl TrainData {
    /// Builds the vocabulary table from a full embedding table (`[vocab × width]`,
    /// row-major; for SmolLM2 the backbone's `embed_tokens.weight`).
    pub fn new(
        cache: TokenCache,
        replay: Option<TokenCache>,
        embedding_table: &[f32],
        width: usize,
    ) -> Result<Self> {
        let mut used = cache.used_ids();
        if let Some(r) = &replay {
            used.extend(r.used_ids());
        }
        let vocab = VocabTable::from_embedding_table(embedding_table, width, used, cache.pad_id)?;
        Self::with_vocab(cache, replay, vocab)
    }

    /// Uses a given vocabulary table, which must hold every token of both corpora.
    pub fn with_vocab(
        cache: TokenCache,
        replay: Option<TokenCache>,
        vocab: VocabTable,
    ) -> Result<Self> {
        for c in std::iter::once(&cache).chain(replay.as_ref()) {
            if c.pad_id != vocab.pad_id() {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "cache pad id {} differs from the vocabulary's {}",
                    c.pad_id,
                    vocab.pad_id()
                )));
            }
            for id in c.used_ids() {
                vocab
                    .index_of(id)
                    .ok_or(AutoencoderError::UnknownToken(id))?;
            }
        }
        Ok(Self {
            cache,
            replay,
            vocab,
            semantic: None,
        })
    }

    /// Adds sentence embeddings for the semantic alignment term. Every text of the
    /// training corpus should have one; an error when none has, a warning when some lack it.
    pub fn with_semantic(mut self, targets: SemanticTargets) -> Result<Self> {
        let covered = self
            .cache
            .texts
            .iter()
            .filter(|t| targets.get(&t.id).is_some())
            .count();
        if covered == 0 {
            return Err(AutoencoderError::InvalidConfig(
                "the sentence embeddings cover none of the corpus texts (other ids?)".into(),
            ));
        }
        if covered < self.cache.len() {
            tracing::warn!(
                covered,
                texts = self.cache.len(),
                "some texts have no sentence embedding; they are left out of the alignment term"
            );
        }
        self.semantic = Some(targets);
        Ok(self)
    }

    fn indexed(&self, cache: &TokenCache) -> Vec<Vec<usize>> {
        cache
            .texts
            .iter()
            .map(|t| {
                t.ids
                    .iter()
                    .map(|&id| self.vocab.index_of(id).unwrap_or(0))
                    .collect()
            })
            .collect()
    }
}

/// One logged training step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step number (1-based: after the update).
    pub step: usize,
    /// Total loss.
    pub loss: f32,
    /// Token cross-entropy.
    pub ce: f32,
    /// Matrix MSE.
    pub mse: f32,
    /// Token accuracy on the batch (content positions, over the loss's candidates).
    pub batch_token_accuracy: f32,
    /// Learning rate used.
    pub lr: f64,
    /// Training seconds so far when the step finished (all sessions; not reproducible).
    pub elapsed_s: f64,
}

/// One validation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Step of the validation.
    pub step: usize,
    /// Its result.
    pub val: EvalReport,
}

/// Where a run stands; saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrainState {
    /// Completed steps.
    pub step: usize,
    /// Current epoch.
    pub epoch: u64,
    /// Batches of the current epoch already used.
    pub batch_in_epoch: usize,
    /// Wall-clock seconds spent so far (over all sessions).
    pub elapsed_s: f64,
    /// Best validation token accuracy so far.
    pub best_val: Option<f64>,
    /// Validations since the best one.
    pub evals_since_best: usize,
    /// Every step's loss.
    pub history: Vec<StepRecord>,
    /// Every validation.
    pub evals: Vec<EvalRecord>,
    /// Why the run ended, once it has (a finished run is not trained further when resumed).
    #[serde(default)]
    pub stopped: Option<StopReason>,
}

/// Why a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// `max_steps` reached.
    MaxSteps,
    /// The wall-clock budget ran out.
    TimeBudget,
    /// Validation stopped improving for `patience` evaluations.
    EarlyStopping,
}

/// The outcome of [`train`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Why the run ended.
    pub stopped: StopReason,
    /// Steps done.
    pub steps: usize,
    /// Epochs (texts seen / training texts).
    pub epochs: f64,
    /// Wall-clock seconds of training (all sessions).
    pub wall_s: f64,
    /// Trainable parameters.
    pub params: usize,
    /// Last logged loss.
    pub final_loss: f32,
    /// Best validation token accuracy.
    pub best_val_token_accuracy: Option<f64>,
    /// Sizes of the splits: train, val, and each held-out family.
    pub split_sizes: Vec<(String, usize)>,
    /// The full state (loss history and validations).
    pub state: TrainState,
    /// Where the best model was written.
    pub model_dir: PathBuf,
}

const CHECKPOINTS: &str = "checkpoints";
const LATEST: &str = "latest";
const RUN: &str = "run.json";
const STATE: &str = "state.json";
const OPTIM: &str = "optim.mpk";
const MODEL_DIR: &str = "model";

/// Trains a CLLM on `data` into `out_dir`, or resumes the run found there (when
/// `out_dir/checkpoints/latest` exists and `run.json` matches `opts`).
///
/// `B` is an autodiff backend, e.g. `Autodiff<NdArray>` on CPU.
pub fn train<B: AutodiffBackend>(
    data: &TrainData,
    opts: &TrainOptions,
    out_dir: &Path,
    device: &B::Device,
    control: &RunControl,
) -> Result<TrainReport> {
    opts.validate()?;
    if data.vocab.width() != opts.model.input_width {
        return Err(AutoencoderError::WrongWidth {
            what: "vocabulary rows",
            expected: opts.model.input_width,
            got: data.vocab.width(),
        });
    }
    if data.cache.max_len > opts.model.max_len {
        return Err(AutoencoderError::InvalidConfig(format!(
            "the cache holds texts of up to {} tokens, the model takes {}",
            data.cache.max_len, opts.model.max_len
        )));
    }
    if opts.loss.align_weight > 0.0 && data.semantic.is_none() {
        return Err(AutoencoderError::InvalidConfig(
            "align_weight > 0 needs sentence embeddings (TrainData::with_semantic)".into(),
        ));
    }
    std::fs::create_dir_all(out_dir.join(CHECKPOINTS))
        .map_err(|e| AutoencoderError::io(out_dir, e))?;

    // ---- splits and indexed texts
    let split = data.cache.split(&opts.split);
    if split.train.is_empty() {
        return Err(AutoencoderError::Empty("training split"));
    }
    let texts = data.indexed(&data.cache);
    let lens: Vec<usize> = texts.iter().map(Vec::len).collect();
    let replay: Option<(Vec<Vec<usize>>, Vec<usize>)> =
        match (&data.replay, opts.replay_fraction > 0.0) {
            (Some(r), true) => {
                let s = r.split(&opts.split);
                if s.train.is_empty() {
                    return Err(AutoencoderError::Empty("replay training split"));
                }
                Some((data.indexed(r), s.train))
            }
            _ => None,
        };
    let mut split_sizes = vec![
        ("train".to_string(), split.train.len()),
        ("val".to_string(), split.val.len()),
    ];
    split_sizes.extend(split.held_out.iter().map(|(k, v)| (k.clone(), v.len())));

    // ---- model, optimizer, state: fresh or resumed
    let latest_path = out_dir.join(CHECKPOINTS).join(LATEST);
    let resume_dir = match std::fs::read_to_string(&latest_path) {
        Ok(name) => Some(out_dir.join(CHECKPOINTS).join(name.trim())),
        Err(_) => None,
    };
    let mut optim = AdamWConfig::new()
        .with_weight_decay(opts.weight_decay)
        .with_grad_clipping(opts.grad_clip_norm.map(GradientClippingConfig::Norm))
        .init::<B, CllmModel<B>>();
    B::seed(device, opts.seed);
    let mut model = CllmModel::<B>::new(&opts.model, device)?;
    let mut state = TrainState::default();
    if let Some(dir) = &resume_dir {
        let saved = read_run_options(&out_dir.join(RUN))?;
        if saved.model != opts.model
            || saved.loss != opts.loss
            || saved.seed != opts.seed
            || saved.batch_size != opts.batch_size
            || saved.split != opts.split
            || saved.replay_fraction != opts.replay_fraction
            || saved.init_from != opts.init_from
        {
            return Err(AutoencoderError::InvalidConfig(format!(
                "{} holds a run with other model/loss/seed/batch/split/fine-tuning settings; use another directory",
                out_dir.display()
            )));
        }
        let saved_vocab = VocabTable::load(&out_dir.join(files::VOCAB))?;
        if saved_vocab.ids() != data.vocab.ids() {
            return Err(AutoencoderError::InvalidConfig(
                "the run's vocabulary differs from the data's".into(),
            ));
        }
        model = persist::load_module(model, &dir.join(files::MODEL), device)?;
        let record = persist::read_record::<B, _>(&dir.join(OPTIM), device)?;
        optim = optim.load_record(record);
        state = persist::read_json(&dir.join(STATE))?;
        tracing::info!(step = state.step, dir = %dir.display(), "resuming");
    } else {
        if let Some(init) = &opts.init_from {
            let cfg: CllmConfig = persist::read_json(&init.join(files::CONFIG))?;
            if cfg != opts.model {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "{} holds a model with another architecture",
                    init.display()
                )));
            }
            model = persist::load_module(model, &init.join(files::MODEL), device)?;
            tracing::info!(from = %init.display(), "fine-tuning");
        }
        persist::write_json(&out_dir.join(RUN), opts)?;
        data.vocab.save(&out_dir.join(files::VOCAB))?;
    }
    let params = model.num_params();
    tracing::info!(
        params,
        k = opts.model.k,
        train = split.train.len(),
        val = split.val.len(),
        "training a CLLM"
    );
    for s in opts.model.stage_report() {
        tracing::info!("{s}");
    }

    // ---- loop
    let e_v = data.vocab.tensor::<B>(device);
    let e_v_inner = data.vocab.tensor::<B::InnerBackend>(device);
    let pad = data.vocab.pad_index();
    let l = opts.model.max_len;
    let val_texts: Vec<&[usize]> = split
        .val
        .iter()
        .take(opts.eval_max_texts)
        .map(|&i| texts[i].as_slice())
        .collect();
    let bar = if opts.progress && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(opts.max_steps as u64);
        b.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b.set_position(state.step as u64);
        b
    } else {
        ProgressBar::hidden()
    };
    let session_start = Instant::now();
    let elapsed_before = state.elapsed_s;
    let mut batches = epoch_batches(
        &split.train,
        &lens,
        opts.batch_size,
        opts.pool_batches,
        opts.seed,
        state.epoch,
    );
    let model_dir = out_dir.join(MODEL_DIR);
    // a finished run stays finished unless its end no longer holds (more steps, more time)
    state.stopped = state.stopped.filter(|reason| match reason {
        StopReason::MaxSteps => state.step >= opts.max_steps,
        StopReason::TimeBudget => opts.time_budget_s.is_some_and(|b| state.elapsed_s >= b),
        StopReason::EarlyStopping => true,
    });
    if let Some(reason) = state.stopped {
        tracing::info!(
            ?reason,
            step = state.step,
            "the run has ended; nothing to train"
        );
    }
    while state.step < opts.max_steps && state.stopped.is_none() {
        if state.batch_in_epoch >= batches.len() {
            state.epoch += 1;
            state.batch_in_epoch = 0;
            batches = epoch_batches(
                &split.train,
                &lens,
                opts.batch_size,
                opts.pool_batches,
                opts.seed,
                state.epoch,
            );
        }
        let step = state.step as u64;
        let mut members: Vec<&[usize]> = batches[state.batch_in_epoch]
            .iter()
            .map(|&i| texts[i].as_slice())
            .collect();
        let mut member_ids: Vec<&str> = batches[state.batch_in_epoch]
            .iter()
            .map(|&i| data.cache.texts[i].id.as_str())
            .collect();
        if let (Some((rtexts, rtrain)), Some(rcache)) = (&replay, &data.replay) {
            use rand::Rng;
            let mut rng = rng_for(opts.seed, stream::REPLAY, step);
            let n_replay = ((members.len() as f64) * opts.replay_fraction).round() as usize;
            for (slot, id) in members.iter_mut().zip(member_ids.iter_mut()).take(n_replay) {
                let r = rtrain[rng.random_range(0..rtrain.len())];
                *slot = rtexts[r].as_slice();
                *id = rcache.texts[r].id.as_str();
            }
        }
        let align = match (&data.semantic, opts.loss.align_weight > 0.0) {
            (Some(t), true) => AlignBatch::gather(t, &member_ids),
            _ => None,
        };
        let hb = HostBatch::new(
            &members,
            l,
            pad,
            opts.token_dropout,
            &mut rng_for(opts.seed, stream::CORRUPT, step),
        );
        B::seed(device, rng_seed(opts.seed, stream::BACKEND, step));
        let lr = opts.lr_at(state.step);
        let out = batch_loss(
            &model,
            &e_v,
            &hb,
            &opts.loss,
            align.as_ref(),
            opts.seed,
            step,
        );
        let grads = GradientsParams::from_grads(out.total.backward(), &model);
        model = optim.step(lr, model, grads);
        state.step += 1;
        state.batch_in_epoch += 1;
        let record = StepRecord {
            step: state.step,
            loss: out.values[0],
            ce: out.values[1],
            mse: out.values[2],
            batch_token_accuracy: out.batch_token_accuracy,
            lr,
            elapsed_s: elapsed_before + session_start.elapsed().as_secs_f64(),
        };
        state.history.push(record);
        state.elapsed_s = record.elapsed_s;
        bar.set_position(state.step as u64);
        bar.set_message(format!(
            "loss {:.3} ce {:.3} tok {:.3}",
            record.loss, record.ce, record.batch_token_accuracy
        ));
        if opts.log_every > 0 && (state.step % opts.log_every == 0 || state.step == 1) {
            tracing::info!(
                step = state.step,
                loss = record.loss,
                ce = record.ce,
                mse = record.mse,
                tok = record.batch_token_accuracy,
                lr,
                elapsed_s = state.elapsed_s as u64,
                "train"
            );
        }
        let last = state.step >= opts.max_steps;
        let out_of_time = opts.time_budget_s.is_some_and(|b| state.elapsed_s >= b);
        if (opts.eval_every > 0 && state.step % opts.eval_every == 0) || last || out_of_time {
            let valid = model.valid();
            let eval_texts = if val_texts.is_empty() {
                // no validation split: track training texts instead
                split
                    .train
                    .iter()
                    .take(opts.eval_max_texts)
                    .map(|&i| texts[i].as_slice())
                    .collect()
            } else {
                val_texts.clone()
            };
            let (val, _) = evaluate(&valid, &e_v_inner, pad, l, &eval_texts, opts.batch_size)?;
            tracing::info!(
                step = state.step,
                tok = val.token_accuracy,
                exact = val.exact_text_rate,
                "validation"
            );
            bar.println(format!(
                "step {}: validation token accuracy {:.4}, exact texts {:.4}",
                state.step, val.token_accuracy, val.exact_text_rate
            ));
            state.evals.push(EvalRecord {
                step: state.step,
                val,
            });
            if state.best_val.is_none_or(|b| val.token_accuracy > b) {
                state.best_val = Some(val.token_accuracy);
                state.evals_since_best = 0;
                save_model_dir(&model_dir, &opts.model, &valid, &data.vocab)?;
            } else {
                state.evals_since_best += 1;
                if opts.patience.is_some_and(|p| state.evals_since_best >= p) {
                    state.stopped = Some(StopReason::EarlyStopping);
                }
            }
        }
        let interrupted = control
            .stop
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
            || control.stop_after_steps.is_some_and(|n| state.step >= n);
        let periodic = opts.checkpoint_every > 0 && state.step % opts.checkpoint_every == 0;
        if state.stopped.is_none() {
            if last {
                state.stopped = Some(StopReason::MaxSteps);
            } else if out_of_time {
                state.stopped = Some(StopReason::TimeBudget);
            }
        }
        let ending = state.stopped.is_some();
        if periodic || interrupted || ending {
            let dir =
                write_checkpoint::<B>(out_dir, &model, &optim, &state, opts.keep_checkpoints)?;
            if interrupted && !ending {
                bar.abandon();
                return Err(AutoencoderError::Interrupted {
                    step: state.step,
                    checkpoint: dir,
                });
            }
        }
    }
    bar.finish_and_clear();
    let report = TrainReport {
        stopped: state.stopped.unwrap_or(StopReason::MaxSteps),
        steps: state.step,
        epochs: (state.step * opts.batch_size) as f64 / split.train.len() as f64,
        wall_s: state.elapsed_s,
        params,
        final_loss: state.history.last().map_or(f32::NAN, |r| r.loss),
        best_val_token_accuracy: state.best_val,
        split_sizes,
        state,
        model_dir,
    };
    persist::write_json(&out_dir.join("report.json"), &report)?;
    Ok(report)
}

/// Reads a run's `run.json`, filling options added since it was written with their
/// defaults (e.g. `loss.align_weight`), so that older runs still resume.
fn read_run_options(path: &Path) -> Result<TrainOptions> {
    let mut saved: serde_json::Value = persist::read_json(path)?;
    let defaults = serde_json::to_value(TrainOptions::default())
        .map_err(|e| AutoencoderError::format(path, e.to_string()))?;
    fill_missing(&mut saved, &defaults);
    serde_json::from_value(saved).map_err(|e| AutoencoderError::format(path, e.to_string()))
}

/// Adds every key of `defaults` missing from `value`, recursively through objects.
fn fill_missing(value: &mut serde_json::Value, defaults: &serde_json::Value) {
    if let (Some(v), Some(d)) = (value.as_object_mut(), defaults.as_object()) {
        for (key, dv) in d {
            match v.get_mut(key) {
                Some(existing) => fill_missing(existing, dv),
                None => {
                    v.insert(key.clone(), dv.clone());
                }
            }
        }
    }
}

fn rng_seed(seed: u64, s: u64, step: u64) -> u64 {
    use rand::Rng;
    rng_for(seed, s, step).random()
}

fn write_checkpoint<B: AutodiffBackend>(
    out_dir: &Path,
    model: &CllmModel<B>,
    optim: &impl Optimizer<CllmModel<B>, B>,
    state: &TrainState,
    keep: usize,
) -> Result<PathBuf> {
    let root = out_dir.join(CHECKPOINTS);
    let name = format!("step-{:08}", state.step);
    let dir = root.join(&name);
    let model_bytes = persist::record_bytes::<B, _>(model.clone().into_record())?;
    let optim_bytes = persist::record_bytes::<B, _>(optim.to_record())?;
    persist::write_dir_atomic(&dir, |tmp| {
        persist::write_bytes(&tmp.join(files::MODEL), &model_bytes)?;
        persist::write_bytes(&tmp.join(OPTIM), &optim_bytes)?;
        persist::write_json(&tmp.join(STATE), state)
    })?;
    persist::write_bytes(&root.join(LATEST), name.as_bytes())?;
    // prune old checkpoints
    let mut existing: Vec<String> = std::fs::read_dir(&root)
        .map_err(|e| AutoencoderError::io(&root, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-"))
        .collect();
    existing.sort();
    let excess = existing.len().saturating_sub(keep.max(1));
    for old in existing.iter().take(excess) {
        let _ = std::fs::remove_dir_all(root.join(old));
    }
    tracing::debug!(checkpoint = %dir.display(), "checkpoint written");
    Ok(dir)
}

/// The sentence embeddings of the batch members that have one.
pub(crate) struct AlignBatch {
    /// Positions in the batch.
    pub rows: Vec<usize>,
    /// Their unit embeddings, row-major `[rows × dim]`.
    pub targets: Vec<f32>,
    /// Embedding width.
    pub dim: usize,
}

impl AlignBatch {
    /// Looks the members up; `None` when fewer than 3 have an embedding (the term compares
    /// pairs and is degenerate below 3 points).
    pub fn gather(t: &SemanticTargets, ids: &[&str]) -> Option<Self> {
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(v) = t.get(id) {
                rows.push(i);
                targets.extend_from_slice(v);
            }
        }
        (rows.len() >= 3).then_some(Self {
            rows,
            targets,
            dim: t.dim(),
        })
    }
}

/// A batch's loss and its values read back.
pub(crate) struct BatchLoss<B: Backend> {
    pub total: Tensor<B, 1>,
    /// total, ce, mse
    pub values: [f32; 3],
    pub batch_token_accuracy: f32,
}

/// Forward pass and objective of one host batch (see [`crate::loss`]).
pub(crate) fn batch_loss<B: AutodiffBackend>(
    model: &CllmModel<B>,
    e_v: &Tensor<B, 2>,
    hb: &HostBatch,
    cfg: &LossConfig,
    align: Option<&AlignBatch>,
    seed: u64,
    step: u64,
) -> BatchLoss<B> {
    let device = e_v.device();
    let [vocab, d] = e_v.dims();
    let (b, l) = (hb.size, hb.max_len);
    let (x_in, mask) = input_tensors(e_v, &hb.input, &hb.lens, l);
    let x_clean = if hb.input == hb.target {
        x_in.clone()
    } else {
        input_tensors(e_v, &hb.target, &hb.lens, l).0
    };
    let mut z = model.encode(x_in, Some(mask));
    let mut total_extra: Option<Tensor<B, 1>> = None;
    if cfg.cluster_weight > 0.0 && b >= 2 {
        total_extra = Some(clustering_term(z.clone()) * cfg.cluster_weight);
    }
    if let (Some(a), true) = (align, cfg.align_weight > 0.0) {
        let idx: Vec<i64> = a.rows.iter().map(|&r| r as i64).collect();
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [a.rows.len()]), &device);
        let s = Tensor::<B, 2>::from_data(
            TensorData::new(a.targets.clone(), [a.rows.len(), a.dim]),
            &device,
        );
        let term = alignment_term(z.clone().select(0, idx), s) * cfg.align_weight;
        total_extra = Some(match total_extra {
            Some(t) => t + term,
            None => term,
        });
    }
    if cfg.latent_noise > 0.0 && b >= 2 {
        let [_, k] = z.dims();
        let std = z.clone().detach().var(0).sqrt(); // [1, k]
        let eps = normal_noise(b * k, &mut rng_for(seed, stream::NOISE, step));
        let eps = Tensor::<B, 2>::from_data(TensorData::new(eps, [b, k]), &device);
        z = z + eps * std * cfg.latent_noise;
    }
    let out = model.decode(z);
    let mse = (out.clone() - x_clean.clone()).square().mean();
    let hp = hb.head_positions;
    let rows = out.clone().narrow(1, 0, hp).reshape([b * hp, d]);
    let targets = hb.head_targets();
    let (cand, targets) = match cfg.negatives {
        Some(n) => {
            let (c, t) = sampled_candidates(
                &targets,
                vocab,
                n,
                &mut rng_for(seed, stream::NEGATIVES, step),
            );
            let idx: Vec<i64> = c.iter().map(|&v| v as i64).collect();
            let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [c.len()]), &device);
            (e_v.clone().select(0, idx), t)
        }
        None => (e_v.clone(), targets),
    };
    let target_t = Tensor::<B, 1, Int>::from_data(
        TensorData::new(
            targets.iter().map(|&v| v as i64).collect::<Vec<_>>(),
            [targets.len()],
        ),
        &device,
    );
    let (ce, predicted) = tied_head_ce_chunked(
        rows,
        cand,
        model.logit_scale(),
        target_t,
        DEFAULT_CHUNK_LOGITS,
    );
    let mut total = ce.clone() + mse.clone() * cfg.mse_weight;
    if cfg.cosine_weight > 0.0 {
        let cos = cosine_distance(out.reshape([b * l, d]), x_clean.reshape([b * l, d]));
        total = total + cos * cfg.cosine_weight;
    }
    if let Some(extra) = total_extra {
        total = total + extra;
    }
    let read = |t: Tensor<B, 1>| {
        t.into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f32::NAN)
    };
    let values = [read(total.clone()), read(ce), read(mse)];
    let pred = predicted
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap_or_default();
    let (mut ok, mut n) = (0usize, 0usize);
    for (bi, &len) in hb.lens.iter().enumerate() {
        for p in 0..len.min(hp) {
            let i = bi * hp + p;
            n += 1;
            if pred.get(i).is_some_and(|&v| v as usize == targets[i]) {
                ok += 1;
            }
        }
    }
    BatchLoss {
        total,
        values,
        batch_token_accuracy: ok as f32 / n.max(1) as f32,
    }
}
