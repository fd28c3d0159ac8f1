//! Validation during training: the token accuracy of the validation texts, the best model
//! kept in `out/model`, and early stopping.

use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;

use super::checkpoint::Run;
use super::options::TrainOptions;
use super::state::{EvalRecord, StopReason};
use super::TrainData;
use crate::cache::Split;
use crate::codec::save_model_dir;
use crate::error::Result;
use crate::eval::{evaluate, EvalReport};
use crate::model::CllmModel;

/// The texts a run validates on and how it scores them.
pub(crate) struct Validation<B: Backend> {
    texts: Vec<Vec<usize>>,
    e_v: Tensor<B, 2>,
    pad: usize,
    max_len: usize,
    batch_size: usize,
}

impl<B: Backend> Validation<B> {
    /// The first `eval_max_texts` validation texts; the training texts, with a warning, when
    /// the split has no validation part (the "best" model is then the best fit).
    pub fn new(
        texts: &[Vec<usize>],
        split: &Split,
        data: &TrainData,
        opts: &TrainOptions,
        device: &B::Device,
    ) -> Self {
        let pick = if split.val.is_empty() {
            tracing::warn!(
                "no validation split: the best model is chosen by its accuracy on training texts"
            );
            &split.train
        } else {
            &split.val
        };
        Self {
            texts: pick
                .iter()
                .take(opts.eval_max_texts)
                .map(|&i| texts[i].clone())
                .collect(),
            e_v: data.vocab.tensor::<B>(device),
            pad: data.vocab.pad_index(),
            max_len: opts.model.max_len,
            batch_size: opts.batch_size,
        }
    }

    fn score(&self, model: &CllmModel<B>) -> Result<EvalReport> {
        let texts: Vec<&[usize]> = self.texts.iter().map(Vec::as_slice).collect();
        let (report, _) = evaluate(
            model,
            &self.e_v,
            self.pad,
            self.max_len,
            &texts,
            self.batch_size,
        )?;
        Ok(report)
    }
}

impl<IB: Backend> Validation<IB> {
    /// Scores the run's model, records the result, writes the model to `model_dir` when it
    /// is the best so far, and sets early stopping once `patience` validations brought
    /// nothing better. Returns the report.
    pub fn run<B: AutodiffBackend<InnerBackend = IB>>(
        &self,
        run: &mut Run<B>,
        opts: &TrainOptions,
        data: &TrainData,
        model_dir: &Path,
    ) -> Result<EvalReport> {
        let valid = run.model.valid();
        let val = self.score(&valid)?;
        let state = &mut run.state;
        state.evals.push(EvalRecord {
            step: state.step,
            val,
        });
        if state.best_val.is_none_or(|b| val.token_accuracy > b) {
            state.best_val = Some(val.token_accuracy);
            state.evals_since_best = 0;
            save_model_dir(model_dir, &opts.model, &valid, &data.vocab)?;
        } else {
            state.evals_since_best += 1;
            if opts.patience.is_some_and(|p| state.evals_since_best >= p) {
                state.stopped = Some(StopReason::EarlyStopping);
            }
        }
        Ok(val)
    }
}
