//! Checkpoints: the atomic `checkpoints/step-N/` directories, `run.json`, and the start
//! of a run: fresh, fine-tuned from a model, or resumed from its newest checkpoint.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamW, AdamWConfig, Optimizer};
use burn::tensor::backend::AutodiffBackend;

use super::data::TrainData;
use super::options::TrainOptions;
use super::state::TrainState;
use crate::codec::files;
use crate::config::CllmConfig;
use crate::error::{AutoencoderError, Result};
use crate::model::CllmModel;
use crate::persist;
use crate::vocab::VocabTable;

/// The optimiser of every run: AdamW with optional clipping.
pub(crate) type RunOptimizer<B> = OptimizerAdaptor<AdamW, CllmModel<B>, B>;

/// What a run carries from step to step.
pub(crate) struct Run<B: AutodiffBackend> {
    pub model: CllmModel<B>,
    pub optim: RunOptimizer<B>,
    pub state: TrainState,
}

/// A fresh run (from `opts.init_from` when fine-tuning), or the run found in `out_dir`
/// resumed from its newest checkpoint after checking that it is the same run.
pub(crate) fn start_or_resume<B: AutodiffBackend>(
    data: &TrainData,
    opts: &TrainOptions,
    out_dir: &Path,
    device: &B::Device,
) -> Result<Run<B>> {
    std::fs::create_dir_all(out_dir.join(CHECKPOINTS))
        .map_err(|e| AutoencoderError::io(out_dir, e))?;
    let mut optim = AdamWConfig::new()
        .with_weight_decay(opts.weight_decay)
        .with_grad_clipping(opts.grad_clip_norm.map(GradientClippingConfig::Norm))
        .init::<B, CllmModel<B>>();
    B::seed(device, opts.seed);
    let mut model = CllmModel::<B>::new(&opts.model, device)?;
    let latest = out_dir.join(CHECKPOINTS).join(LATEST);
    let Ok(name) = std::fs::read_to_string(&latest) else {
        if let Some(init) = &opts.init_from {
            let cfg = CllmConfig::load_json(&init.join(files::CONFIG))?;
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
        return Ok(Run {
            model: frozen_as_asked(model, opts),
            optim,
            state: TrainState::default(),
        });
    };
    let dir = out_dir.join(CHECKPOINTS).join(name.trim());
    let saved = read_run_options(&out_dir.join(RUN))?;
    let changed = saved.changed_settings(opts);
    if !changed.is_empty() {
        return Err(AutoencoderError::InvalidConfig(format!(
            "{} holds a run with other settings ({}); use another directory, or \
             fine-tune from its model with init_from",
            out_dir.display(),
            changed.join(", ")
        )));
    }
    let saved_vocab = VocabTable::load(&out_dir.join(files::VOCAB))?;
    if saved_vocab.ids() != data.vocab.ids() {
        return Err(AutoencoderError::InvalidConfig(
            "the run's vocabulary differs from the data's".into(),
        ));
    }
    if saved_vocab != data.vocab {
        return Err(AutoencoderError::InvalidConfig(format!(
            "{} holds a run trained on other embedding rows for the same token ids (another \
             model file or quantisation of the backbone); use another directory, or fine-tune \
             from its model with init_from",
            out_dir.display()
        )));
    }
    model = persist::load_module(model, &dir.join(files::MODEL), device)?;
    optim = optim.load_record(persist::read_optimizer_record::<B, _, _>(
        &dir.join(OPTIM),
        &model,
        device,
    )?);
    let state: TrainState = persist::read_json(&dir.join(STATE))?;
    tracing::info!(step = state.step, dir = %dir.display(), "resuming");
    Ok(Run {
        model: frozen_as_asked(model, opts),
        optim,
        state,
    })
}

/// The model with its decoder frozen when the run trains the encoder only.
fn frozen_as_asked<B: AutodiffBackend>(model: CllmModel<B>, opts: &TrainOptions) -> CllmModel<B> {
    if opts.freeze_decoder {
        model.with_frozen_decoder()
    } else {
        model
    }
}

const CHECKPOINTS: &str = "checkpoints";
const LATEST: &str = "latest";
const RUN: &str = "run.json";
const STATE: &str = "state.json";
const OPTIM: &str = "optim.mpk";
/// The best model's directory inside a run's output directory.
pub(crate) const MODEL_DIR: &str = "model";

/// The options of the run in `out_dir` (its `run.json`, options added since it was written
/// filled with their defaults), or `None` when the directory holds no run: what a command
/// reads to resume a run with the settings it was started with after its own defaults changed.
pub fn saved_run_options(out_dir: &Path) -> Result<Option<TrainOptions>> {
    let path = out_dir.join(RUN);
    if !path.is_file() {
        return Ok(None);
    }
    read_run_options(&path).map(Some)
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

/// Writes the run's weights, optimiser moments and state as `checkpoints/step-N/`
/// (atomically), points `latest` at it and keeps the newest `keep` checkpoints.
pub(crate) fn write_checkpoint<B: AutodiffBackend>(
    out_dir: &Path,
    run: &Run<B>,
    keep: usize,
) -> Result<PathBuf> {
    let (model, optim, state) = (&run.model, &run.optim, &run.state);
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
