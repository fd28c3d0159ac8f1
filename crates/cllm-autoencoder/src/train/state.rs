//! Where a run stands ([`TrainState`], saved with every checkpoint) and how it ended
//! ([`TrainReport`]).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::eval::EvalReport;

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
    /// The text vectors of the latest steps, newest first (at most
    /// [`LossConfig::decor_queue`](crate::loss::LossConfig::decor_queue)): the decorrelation
    /// term's queue, kept in the checkpoint so that a resumed run continues exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent_codes: Vec<Vec<f32>>,
}

impl TrainState {
    /// Puts a batch's text vectors (row-major, `k` each) at the front of the queue of
    /// recent vectors and keeps the newest `cap`.
    pub(crate) fn remember_codes(&mut self, codes: &[f32], k: usize, cap: usize) {
        if k == 0 {
            return;
        }
        let mut rows: Vec<Vec<f32>> = codes.chunks_exact(k).map(<[f32]>::to_vec).collect();
        rows.append(&mut self.recent_codes);
        rows.truncate(cap);
        self.recent_codes = rows;
    }

    /// Records a finished step (`values`: total loss, cross-entropy, MSE) and returns its
    /// record.
    pub(crate) fn record_step(
        &mut self,
        values: &[f32; 3],
        batch_token_accuracy: f32,
        lr: f64,
        elapsed_s: f64,
    ) -> StepRecord {
        self.step += 1;
        self.batch_in_epoch += 1;
        self.elapsed_s = elapsed_s;
        let record = StepRecord {
            step: self.step,
            loss: values[0],
            ce: values[1],
            mse: values[2],
            batch_token_accuracy,
            lr,
            elapsed_s,
        };
        self.history.push(record);
        record
    }
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
