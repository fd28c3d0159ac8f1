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
//! ## The loop
//!
//! [`train`] reads like the algorithm: check the inputs, plan the batches
//! ([`data`]), start or resume the run ([`checkpoint`]), then per step: the step's texts, the
//! objective ([`objective`]), the AdamW update, and when due a validation
//! ([`validation`]) and a checkpoint.
//!
//! ## Resume
//!
//! A run resumes only with the same settings ([`TrainOptions::changed_settings`]); the
//! step budget is one of them, since the cosine schedule spans it.
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
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use indicatif::{ProgressBar, ProgressStyle};

mod checkpoint;
mod data;
mod objective;
mod options;
mod state;
mod validation;

pub use data::TrainData;
pub(crate) use objective::{read_scalar, restoration_ce, AlignBatch};
pub use options::TrainOptions;
pub use state::{EvalRecord, StepRecord, StopReason, TrainReport, TrainState};

use crate::batch::{rng_for, stream, HostBatch};
use crate::error::{AutoencoderError, Result};
pub use checkpoint::saved_run_options;
use checkpoint::{start_or_resume, write_checkpoint, Run, MODEL_DIR};
use data::BatchPlan;
use objective::batch_loss;
use validation::Validation;

/// Stops a run from outside: a flag (e.g. set by a Ctrl-C handler) and/or a step count.
/// Either way the run writes a checkpoint and returns [`AutoencoderError::Interrupted`].
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Set to stop after the current step.
    pub stop: Option<Arc<AtomicBool>>,
    /// Stop (as if interrupted) once this many steps are done.
    pub stop_after_steps: Option<usize>,
}

/// Trains a CLLM on `data` into `out_dir`, or resumes the run found there (when
/// `out_dir/checkpoints/latest` exists and `run.json` holds the same settings).
///
/// `B` is an autodiff backend, e.g. `Autodiff<Flex>` on CPU.
pub fn train<B: AutodiffBackend>(
    data: &TrainData,
    opts: &TrainOptions,
    out_dir: &Path,
    device: &B::Device,
    control: &RunControl,
) -> Result<TrainReport> {
    check_inputs(data, opts)?;
    let split = data.cache.split(&opts.split);
    let mut plan = BatchPlan::new(data, &split, opts)?;
    let mut run = start_or_resume::<B>(data, opts, out_dir, device)?;
    let params = run.model.num_params();
    log_start(opts, &split, params);
    let validation = Validation::<B::InnerBackend>::new(plan.texts(), &split, data, opts, device);
    let e_v = data.vocab.tensor::<B>(device);
    let model_dir = out_dir.join(MODEL_DIR);
    let bar = progress_bar(opts, run.state.step);
    let (session_start, elapsed_before) = (Instant::now(), run.state.elapsed_s);
    let first_step = run.state.step;
    let mut align_skipped = 0usize;
    run.state.stopped = run
        .state
        .stopped
        .filter(|r| still_holds(*r, &run.state, opts));
    while run.state.step < opts.max_steps && run.state.stopped.is_none() {
        // the step's texts
        let state = &mut run.state;
        if state.batch_in_epoch >= plan.batches_per_epoch(state.epoch) {
            state.epoch += 1;
            state.batch_in_epoch = 0;
        }
        let step = state.step as u64;
        let texts = plan.step_texts(state.epoch, state.batch_in_epoch, step);
        let align = match (&data.semantic, opts.loss.align_weight > 0.0) {
            (Some(t), true) => {
                let a = AlignBatch::gather(t, &texts.ids);
                align_skipped += usize::from(a.is_none());
                a
            }
            _ => None,
        };
        let mut corrupt_rng = rng_for(opts.seed, stream::CORRUPT, step);
        let hb = HostBatch::new(
            &texts.texts,
            opts.model.max_len,
            data.vocab.pad_index(),
            opts.token_dropout,
            &mut corrupt_rng,
        );

        // the objective and the update
        B::seed(device, rng_seed(opts.seed, stream::BACKEND, step));
        let lr = opts.lr_at_time(state.step, state.elapsed_s);
        let out = batch_loss(
            &run.model,
            &e_v,
            &hb,
            &opts.loss,
            align.as_ref(),
            &run.state.recent_codes,
            opts.seed,
            step,
        )?;
        if let Some(codes) = &out.codes {
            let (k, cap) = (opts.model.k, opts.loss.decor_queue);
            run.state.remember_codes(codes, k, cap);
        }
        let grads = GradientsParams::from_grads(out.total.backward(), &run.model);
        run.model = run.optim.step(lr, run.model, grads);
        let elapsed_s = elapsed_before + session_start.elapsed().as_secs_f64();
        let record = run
            .state
            .record_step(&out.values, out.batch_token_accuracy, lr, elapsed_s);
        report_step(&bar, &record, opts);
        if run.state.step == first_step + 1 {
            tracing::info!(
                seconds = session_start.elapsed().as_secs_f64(),
                "first step done (kernel compilation and warm-up included)"
            );
        }

        // validation, stop and checkpoint
        let last = run.state.step >= opts.max_steps;
        let out_of_time = opts.time_budget_s.is_some_and(|b| run.state.elapsed_s >= b);
        if (opts.eval_every > 0 && run.state.step.is_multiple_of(opts.eval_every))
            || last
            || out_of_time
        {
            let val = validation.run(&mut run, opts, data, &model_dir)?;
            bar.println(format!(
                "step {}: validation token accuracy {:.4}, exact texts {:.4}",
                run.state.step, val.token_accuracy, val.exact_text_rate
            ));
        }
        if run.state.stopped.is_none() {
            run.state.stopped = (last.then_some(StopReason::MaxSteps))
                .or(out_of_time.then_some(StopReason::TimeBudget));
        }
        let interrupted = control
            .stop
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
            || control
                .stop_after_steps
                .is_some_and(|n| run.state.step >= n);
        let periodic =
            opts.checkpoint_every > 0 && run.state.step.is_multiple_of(opts.checkpoint_every);
        let ending = run.state.stopped.is_some();
        if periodic || interrupted || ending {
            let checkpoint = write_checkpoint(out_dir, &run, opts.keep_checkpoints)?;
            if interrupted && !ending {
                bar.abandon();
                return Err(AutoencoderError::Interrupted {
                    step: run.state.step,
                    checkpoint,
                });
            }
        }
    }
    bar.finish_and_clear();
    if align_skipped > 0 {
        tracing::warn!(
            steps = align_skipped,
            "steps without the alignment term (fewer than 3 batch texts had a sentence embedding)"
        );
    }
    finish(run, &mut plan, &split, params, model_dir, out_dir)
}

/// The data must fit the model: the vocabulary rows its input width, the texts its length,
/// and the alignment term needs sentence embeddings.
fn check_inputs(data: &TrainData, opts: &TrainOptions) -> Result<()> {
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
    Ok(())
}

/// A finished run stays finished unless its end no longer holds (a longer time budget).
fn still_holds(reason: StopReason, state: &TrainState, opts: &TrainOptions) -> bool {
    let holds = match reason {
        StopReason::MaxSteps => state.step >= opts.max_steps,
        StopReason::TimeBudget => opts.time_budget_s.is_some_and(|b| state.elapsed_s >= b),
        StopReason::EarlyStopping => true,
    };
    if holds {
        tracing::info!(
            ?reason,
            step = state.step,
            "the run has ended; nothing to train"
        );
    }
    holds
}

fn log_start(opts: &TrainOptions, split: &crate::cache::Split, params: usize) {
    tracing::info!(
        params,
        k = opts.model.k,
        decoder = if opts.model.is_autoregressive() {
            "autoregressive"
        } else {
            "mirror"
        },
        train = split.train.len(),
        val = split.val.len(),
        "training a CLLM"
    );
    for s in opts.model.stage_report() {
        tracing::info!("{s}");
    }
}

fn progress_bar(opts: &TrainOptions, position: usize) -> ProgressBar {
    if !(opts.progress && std::io::stderr().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(opts.max_steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(position as u64);
    bar
}

fn report_step(bar: &ProgressBar, record: &StepRecord, opts: &TrainOptions) {
    bar.set_position(record.step as u64);
    bar.set_message(format!(
        "loss {:.3} ce {:.3} tok {:.3}",
        record.loss, record.ce, record.batch_token_accuracy
    ));
    if opts.log_every > 0 && (record.step.is_multiple_of(opts.log_every) || record.step == 1) {
        tracing::info!(
            step = record.step,
            loss = record.loss,
            ce = record.ce,
            mse = record.mse,
            tok = record.batch_token_accuracy,
            lr = record.lr,
            elapsed_s = record.elapsed_s as u64,
            "train"
        );
    }
}

/// The report of a run that has ended, written as `out/report.json`.
fn finish<B: AutodiffBackend>(
    run: Run<B>,
    plan: &mut BatchPlan<'_>,
    split: &crate::cache::Split,
    params: usize,
    model_dir: std::path::PathBuf,
    out_dir: &Path,
) -> Result<TrainReport> {
    let state = run.state;
    let mut split_sizes = vec![
        ("train".to_string(), split.train.len()),
        ("val".to_string(), split.val.len()),
    ];
    split_sizes.extend(split.held_out.iter().map(|(k, v)| (k.clone(), v.len())));
    let report = TrainReport {
        stopped: state.stopped.unwrap_or(StopReason::MaxSteps),
        steps: state.step,
        epochs: plan.epochs_done(&state),
        wall_s: state.elapsed_s,
        params,
        final_loss: state.history.last().map_or(f32::NAN, |r| r.loss),
        best_val_token_accuracy: state.best_val,
        split_sizes,
        state,
        model_dir,
    };
    crate::persist::write_json(&out_dir.join("report.json"), &report)?;
    Ok(report)
}

fn rng_seed(seed: u64, s: u64, step: u64) -> u64 {
    use rand::Rng;
    rng_for(seed, s, step).random()
}
