//! [`TrainOptions`]: everything a run needs besides the data (saved as `run.json`), its
//! learning-rate schedule and the check of a resumed run's settings.

use serde::{Deserialize, Serialize};

use crate::cache::SplitOptions;
use crate::config::CllmConfig;
use crate::error::{AutoencoderError, Result};
use crate::loss::LossConfig;
use std::path::PathBuf;

/// Everything a training run needs besides the data. Saved as `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// The architecture (fields added since a run was saved take the older model's value).
    #[serde(deserialize_with = "model_with_defaults")]
    pub model: CllmConfig,
    /// The objective (terms added since a run was saved take their defaults).
    #[serde(deserialize_with = "loss_with_defaults")]
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
    /// Decay the learning rate over the wall-clock budget instead of `max_steps` (the
    /// PyTorch pilot's schedule, for runs sized by time, e.g. on a GPU lent for minutes).
    /// Needs `time_budget_s`; not reproducible, like the budget itself.
    #[serde(default)]
    pub schedule_over_time: bool,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Gradient clipping by norm (burn clips each parameter tensor's gradient norm).
    pub grad_clip_norm: Option<f32>,
    /// Fraction of input tokens replaced by the pad row (denoising; 0 = off).
    pub token_dropout: f64,
    /// Steps between validations (0 = only at the end).
    pub eval_every: usize,
    /// Validation texts per evaluation (the first ones of the split); at least 1, since
    /// validation is what writes the best model.
    pub eval_max_texts: usize,
    /// Stop after this many validations without improvement (`None` = never).
    pub patience: Option<usize>,
    /// Steps between checkpoints (0 = only at the end and on interrupt).
    pub checkpoint_every: usize,
    /// Checkpoints kept on disk.
    pub keep_checkpoints: usize,
    /// Batches per length-sorting pool (1 = no bucketing; a model with `latent_norm` is
    /// never bucketed: its batch statistics must be the corpus's).
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
    /// Fine-tuning: the [`model_key`](crate::codec::files::model_key) of `init_from`'s
    /// model. Filled in when the run starts (a given key must match the model found there),
    /// recorded in `run.json`, and compared on resume: a run fine-tuned from a model that
    /// has since changed is another run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_key: Option<cllm_core::ContentKey>,
    /// The [`ContentKey`](cllm_core::ContentKey) of the tokenized texts the run trains on
    /// (and replays). Filled in when a job starts, recorded in `run.json`, compared on
    /// resume: a run resumed on an edited corpus is another run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_key: Option<cllm_core::ContentKey>,
    /// Fine-tuning: fraction of every batch drawn from the replay corpus.
    pub replay_fraction: f64,
    /// Train the encoder only; the decoder and the head keep their weights (with
    /// `init_from`: CLLM2 whose codes CLLM1's decoder reads by construction).
    #[serde(default)]
    pub freeze_decoder: bool,
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
            schedule_over_time: false,
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
            init_key: None,
            data_key: None,
            replay_fraction: 0.0,
            freeze_decoder: false,
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
        let decay_steps = self.max_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let t = (step.saturating_sub(self.warmup_steps.saturating_sub(1)) as f64 / decay_steps)
            .min(1.0);
        self.warm_cosine(step, t)
    }

    /// The learning rate at `step` after `elapsed_s` seconds of the run: [`Self::lr_at`],
    /// or with [`Self::schedule_over_time`] the cosine decay spans the time budget (the
    /// warm-up still counts steps).
    ///
    /// ```
    /// let o = cllm_autoencoder::TrainOptions {
    ///     warmup_steps: 10, max_steps: 1_000_000, time_budget_s: Some(60.0),
    ///     schedule_over_time: true, ..Default::default()
    /// };
    /// assert!((o.lr_at_time(20, 30.0) - 0.5 * o.learning_rate).abs() < 1e-12);
    /// assert!(o.lr_at_time(20, 60.0) < 1e-12);
    /// ```
    pub fn lr_at_time(&self, step: usize, elapsed_s: f64) -> f64 {
        match (self.schedule_over_time, self.time_budget_s) {
            (true, Some(budget)) if budget > 0.0 => {
                let t = if step + 1 < self.warmup_steps {
                    0.0
                } else {
                    (elapsed_s / budget).clamp(0.0, 1.0)
                };
                self.warm_cosine(step, t)
            }
            _ => self.lr_at(step),
        }
    }

    /// Linear warm-up over `warmup_steps`, times the cosine at progress `t ∈ [0, 1]`.
    fn warm_cosine(&self, step: usize, t: f64) -> f64 {
        let warm = ((step + 1) as f64 / self.warmup_steps.max(1) as f64).min(1.0);
        let cos = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
        let min = self.min_lr_fraction.clamp(0.0, 1.0);
        self.learning_rate * warm * (min + (1.0 - min) * cos)
    }

    /// The settings of `other` that would change this run: its trajectory, or the
    /// validation set its best model is chosen on. Free to change on resume: the
    /// wall-clock budget, how often it validates, checkpoints and logs, and the patience
    /// of early stopping. The step budget counts: the cosine schedule spans it,
    /// so a run cannot be stretched once started (fine-tune from its model instead).
    ///
    /// ```
    /// let a = cllm_autoencoder::TrainOptions::default();
    /// let mut b = a.clone();
    /// b.eval_every = 7;
    /// b.time_budget_s = Some(60.0);
    /// assert!(a.changed_settings(&b).is_empty());
    /// b.learning_rate = 5e-4;
    /// b.max_steps = 9;
    /// assert_eq!(a.changed_settings(&b), vec!["learning_rate", "max_steps"]);
    /// ```
    pub fn changed_settings(&self, other: &TrainOptions) -> Vec<&'static str> {
        let same_or_unknown = |a: &Option<cllm_core::ContentKey>,
                               b: &Option<cllm_core::ContentKey>| {
            // runs saved before the keys were recorded have none: nothing to compare
            a.is_none() || b.is_none() || a == b
        };
        let checks: [(&'static str, bool); 21] = [
            ("model", self.model == other.model),
            ("loss", self.loss == other.loss),
            ("batch_size", self.batch_size == other.batch_size),
            ("learning_rate", self.learning_rate == other.learning_rate),
            (
                "min_lr_fraction",
                self.min_lr_fraction == other.min_lr_fraction,
            ),
            ("warmup_steps", self.warmup_steps == other.warmup_steps),
            ("max_steps", self.max_steps == other.max_steps),
            (
                "schedule_over_time",
                self.schedule_over_time == other.schedule_over_time,
            ),
            ("weight_decay", self.weight_decay == other.weight_decay),
            (
                "grad_clip_norm",
                self.grad_clip_norm == other.grad_clip_norm,
            ),
            ("token_dropout", self.token_dropout == other.token_dropout),
            ("pool_batches", self.pool_batches == other.pool_batches),
            ("seed", self.seed == other.seed),
            ("split", self.split == other.split),
            ("init_from", self.init_from == other.init_from),
            (
                "init_key (the model fine-tuned from has changed)",
                same_or_unknown(&self.init_key, &other.init_key),
            ),
            (
                "data_key (the corpus's texts or their tokens have changed)",
                same_or_unknown(&self.data_key, &other.data_key),
            ),
            (
                "time_budget_s (the learning-rate schedule spans it)",
                !(self.schedule_over_time || other.schedule_over_time)
                    || self.time_budget_s == other.time_budget_s,
            ),
            (
                "replay_fraction",
                self.replay_fraction == other.replay_fraction,
            ),
            (
                "freeze_decoder",
                self.freeze_decoder == other.freeze_decoder,
            ),
            (
                "eval_max_texts",
                self.eval_max_texts == other.eval_max_texts,
            ),
        ];
        checks
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| name)
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let bad = |m: &str| Err(AutoencoderError::InvalidConfig(m.into()));
        if self.batch_size == 0 || self.max_steps == 0 {
            return bad("batch_size and max_steps must be positive");
        }
        if self.eval_max_texts == 0 {
            // the model directory is written by validation: with no text to validate on,
            // a run would end without a model
            return bad("eval_max_texts must be at least 1 (validation writes the model)");
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be positive");
        }
        if self.freeze_decoder && self.init_from.is_none() {
            return bad("freeze_decoder needs init_from (a trained decoder to keep)");
        }
        if self.schedule_over_time && !self.time_budget_s.is_some_and(|b| b > 0.0) {
            return bad("schedule_over_time needs a positive time budget");
        }
        if !(0.0..1.0).contains(&self.token_dropout) || !(0.0..1.0).contains(&self.replay_fraction)
        {
            return bad("token_dropout and replay_fraction must be in [0, 1)");
        }
        for (name, w) in [
            ("latent_noise", self.loss.latent_noise),
            ("cluster_weight", self.loss.cluster_weight),
            ("mse_weight", self.loss.mse_weight),
            ("align_weight", self.loss.align_weight),
            ("bow_weight", self.loss.bow_weight),
            ("decor_weight (--decor-weight)", self.loss.decor_weight),
        ] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(AutoencoderError::InvalidConfig(format!(
                    "loss weight {name} is {w}; it must be finite and non-negative"
                )));
            }
        }
        if self.loss.decor_queue > MAX_DECOR_QUEUE {
            return bad("decor_queue must be at most 65,536 vectors");
        }
        if self.loss.bow_weight > 0.0 && !self.model.is_autoregressive() {
            return bad("the bag-of-words term needs the autoregressive decoder (--decoder ar)");
        }
        Ok(())
    }
}

/// The most recent vectors the decorrelation term's queue may hold (a bound on what a
/// config can ask the training state to keep).
const MAX_DECOR_QUEUE: usize = 65_536;

/// A saved [`CllmConfig`], read as [`CllmConfig::from_saved`] reads it.
fn model_with_defaults<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<CllmConfig, D::Error> {
    use serde::de::Error;
    CllmConfig::from_saved(serde_json::Value::deserialize(d)?).map_err(D::Error::custom)
}

/// A saved [`LossConfig`], with the defaults of terms that did not exist when it was saved
/// (burn's `Config` derive refuses a missing field), so that the runs of earlier versions
/// resume and are recognised as finished.
fn loss_with_defaults<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<LossConfig, D::Error> {
    use serde::de::Error;
    let mut saved = serde_json::Value::deserialize(d)?;
    let defaults = serde_json::to_value(LossConfig::new()).map_err(D::Error::custom)?;
    if let (Some(saved), Some(defaults)) = (saved.as_object_mut(), defaults.as_object()) {
        for (key, value) in defaults {
            saved.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
    serde_json::from_value(saved).map_err(D::Error::custom)
}
