//! A run interrupted and resumed from its checkpoint follows the uninterrupted loss curve.

use crate::common;

use cllm_autoencoder::{train, AutoencoderError, CpuTrainBackend, LossConfig, RunControl};

/// Losses of an uninterrupted run and of the same run interrupted after `at` steps and
/// resumed.
fn full_and_resumed_curves(
    data: &cllm_autoencoder::TrainData,
    opts: &cllm_autoencoder::TrainOptions,
    at: usize,
) -> (Vec<f32>, Vec<f32>) {
    let device = Default::default();
    let full_dir = tempfile::tempdir().unwrap();
    let full =
        train::<CpuTrainBackend>(data, opts, full_dir.path(), &device, &RunControl::default())
            .unwrap();
    assert_eq!(full.steps, opts.max_steps);
    let dir = tempfile::tempdir().unwrap();
    let control = RunControl {
        stop_after_steps: Some(at),
        ..Default::default()
    };
    let err = train::<CpuTrainBackend>(data, opts, dir.path(), &device, &control).unwrap_err();
    assert!(
        matches!(err, AutoencoderError::Interrupted { step, .. } if step == at),
        "{err}"
    );
    let resumed =
        train::<CpuTrainBackend>(data, opts, dir.path(), &device, &RunControl::default()).unwrap();
    assert_eq!(resumed.steps, opts.max_steps);
    let curve =
        |r: &cllm_autoencoder::TrainReport| r.state.history.iter().map(|h| h.loss).collect();
    (curve(&full), curve(&resumed))
}

#[test]
fn resume_reproduces_the_uninterrupted_loss_curve() {
    let _guard = common::serial();
    let data = common::data(40, 1);
    let mut opts = common::quiet_options();
    // exercise every random source: dropout, input corruption, latent noise, sampled negatives
    opts.model = opts.model.with_dropout(0.1);
    opts.token_dropout = 0.1;
    opts.loss = LossConfig::new()
        .with_latent_noise(0.1)
        .with_negatives(Some(8));
    opts.max_steps = 8;
    let (a, b) = full_and_resumed_curves(&data, &opts, 3);
    assert_eq!(a, b, "resumed loss curve differs");
    // and the curve is not trivially constant
    assert!(a.windows(2).any(|w| w[0] != w[1]));
}

#[test]
fn same_seed_same_curve_other_seed_other_curve() {
    let _guard = common::serial();
    let data = common::data(40, 1);
    let opts = common::quiet_options();
    let device = Default::default();
    let run = |o: &cllm_autoencoder::TrainOptions| {
        let d = tempfile::tempdir().unwrap();
        let r =
            train::<CpuTrainBackend>(&data, o, d.path(), &device, &RunControl::default()).unwrap();
        r.state.history.iter().map(|r| r.loss).collect::<Vec<f32>>()
    };
    let a = run(&opts);
    assert_eq!(a, run(&opts));
    let mut other = opts.clone();
    other.seed = 1;
    assert_ne!(a, run(&other));
}

#[test]
fn a_directory_of_another_run_is_refused() {
    let _guard = common::serial();
    let data = common::data(40, 1);
    let opts = common::quiet_options();
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default()).unwrap();
    let mut other = opts.clone();
    other.model.k = 4;
    let err = train::<CpuTrainBackend>(&data, &other, dir.path(), &device, &RunControl::default())
        .unwrap_err();
    assert!(matches!(err, AutoencoderError::InvalidConfig(_)));
}

/// Runs `opts` in `dir` until it is interrupted after `at` steps; returns the optimizer file
/// of the checkpoint written then.
fn interrupted_run(
    data: &cllm_autoencoder::TrainData,
    opts: &cllm_autoencoder::TrainOptions,
    dir: &std::path::Path,
    at: usize,
) -> std::path::PathBuf {
    let control = RunControl {
        stop_after_steps: Some(at),
        ..Default::default()
    };
    let err = train::<CpuTrainBackend>(data, opts, dir, &Default::default(), &control).unwrap_err();
    assert!(matches!(err, AutoencoderError::Interrupted { .. }), "{err}");
    let latest = std::fs::read_to_string(dir.join("checkpoints").join("latest")).unwrap();
    let optim = dir
        .join("checkpoints")
        .join(latest.trim())
        .join("optim.mpk");
    assert!(optim.is_file(), "no optimizer state at {}", optim.display());
    optim
}

#[test]
fn an_optimizer_state_of_another_model_is_refused_on_resume() {
    let _guard = common::serial();
    let data = common::data(40, 1);
    let opts = common::quiet_options();
    let dir = tempfile::tempdir().unwrap();
    let optim = interrupted_run(&data, &opts, dir.path(), 2);
    // the optimizer moments of a run with another configuration (k = 4), dropped into the
    // checkpoint: burn would key them to none of the model's parameters and restart the
    // moments from zero without a word
    let mut other = opts.clone();
    other.model.k = 4;
    let other_dir = tempfile::tempdir().unwrap();
    let other_optim = interrupted_run(&data, &other, other_dir.path(), 2);
    std::fs::copy(&other_optim, &optim).unwrap();
    let err = train::<CpuTrainBackend>(
        &data,
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, AutoencoderError::Format { path, detail }
            if path == &optim && detail.contains("belongs to no parameter")),
        "{err}"
    );
}

#[test]
fn a_truncated_optimizer_state_is_refused_on_resume() {
    let _guard = common::serial();
    let data = common::data(40, 1);
    let opts = common::quiet_options();
    let dir = tempfile::tempdir().unwrap();
    let optim = interrupted_run(&data, &opts, dir.path(), 2);
    let bytes = std::fs::read(&optim).unwrap();
    std::fs::write(&optim, &bytes[..bytes.len() / 2]).unwrap();
    let err = train::<CpuTrainBackend>(
        &data,
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, AutoencoderError::Format { path, .. } if path == &optim),
        "{err}"
    );
}

/// Sentence targets for the toy corpus: `n` texts, 3-D, deterministic.
fn toy_targets(n: usize) -> cllm_autoencoder::semantic::SemanticTargets {
    let file = cllm_autoencoder::VectorFile {
        ids: (0..n).map(|i| format!("t{i}")).collect(),
        dim: 3,
        data: (0..n * 3)
            .map(|v| ((v * 37 % 17) as f32 - 8.0) / 8.0 + 0.01)
            .collect(),
        ..Default::default()
    };
    cllm_autoencoder::semantic::SemanticTargets::from_vector_file(file).unwrap()
}

#[test]
fn resume_with_alignment_reproduces_the_curve() {
    let _guard = common::serial();
    let data = common::data(40, 2).with_semantic(toy_targets(40)).unwrap();
    let mut opts = common::quiet_options();
    opts.loss = LossConfig::new().with_align_weight(5.0);
    opts.max_steps = 6;
    let (a, b) = full_and_resumed_curves(&data, &opts, 2);
    assert_eq!(
        a, b,
        "resumed loss curve differs with the alignment term on"
    );
}

#[test]
fn a_run_json_from_before_a_new_option_still_resumes() {
    let _guard = common::serial();
    let data = common::data(24, 3);
    let mut opts = common::quiet_options();
    opts.max_steps = 4;
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let control = RunControl {
        stop_after_steps: Some(2),
        ..Default::default()
    };
    assert!(train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &control).is_err());
    // an older run.json, written before `loss.align_weight` existed
    let path = dir.path().join("run.json");
    let mut run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    run["loss"]
        .as_object_mut()
        .unwrap()
        .remove("align_weight")
        .unwrap();
    std::fs::write(&path, serde_json::to_vec(&run).unwrap()).unwrap();
    let resumed =
        train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
            .unwrap();
    assert_eq!(resumed.steps, 4);
}

#[test]
fn a_finished_run_is_not_trained_again() {
    let _guard = common::serial();
    let data = common::data(24, 4);
    let mut opts = common::quiet_options();
    opts.max_steps = 40;
    opts.eval_every = 1;
    opts.patience = Some(1);
    opts.learning_rate = 1e-9; // validation cannot improve: early stopping after 2 evaluations
    let device = Default::default();
    let dir = tempfile::tempdir().unwrap();
    let first = train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
        .unwrap();
    assert_eq!(first.stopped, cllm_autoencoder::StopReason::EarlyStopping);
    assert!(first.steps < 40);
    let again = train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
        .unwrap();
    assert_eq!(again.steps, first.steps);
    assert_eq!(again.stopped, cllm_autoencoder::StopReason::EarlyStopping);
    // a split change into the same directory is refused
    let mut other = opts.clone();
    other.split.val_fraction = 0.5;
    assert!(
        train::<CpuTrainBackend>(&data, &other, dir.path(), &device, &RunControl::default())
            .is_err()
    );
}

/// Validation writes the model directory: a run asked to validate on no text would end
/// without a model, so it is refused before the first step (it used to fail at the end).
#[test]
fn validating_on_no_text_is_refused_up_front() {
    let data = common::data(40, 1);
    let mut opts = common::quiet_options();
    opts.eval_max_texts = 0;
    let dir = tempfile::tempdir().unwrap();
    let err = train::<CpuTrainBackend>(
        &data,
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, AutoencoderError::InvalidConfig(ref m) if m.contains("eval_max_texts")),
        "{err}"
    );
    assert!(!dir.path().join("model").exists());
}

/// The decorrelation term reads a queue of earlier steps' vectors: the queue is part of
/// the checkpoint, so an interrupted run resumes on the same curve (8 vectors a step, the
/// newest 6 kept: every step after the first reads the queue).
#[test]
fn resume_with_the_decorrelation_queue_reproduces_the_curve() {
    let _guard = common::serial();
    let data = common::data(40, 3);
    let mut opts = common::quiet_options();
    opts.loss = LossConfig::new()
        .with_decor_weight(1.0)
        .with_decor_queue(6);
    opts.max_steps = 6;
    let (a, b) = full_and_resumed_curves(&data, &opts, 3);
    assert_eq!(a, b, "resumed loss curve differs with the decorrelation term on");
    // the term is in the loss: the same run without it follows another curve
    let mut plain = opts.clone();
    plain.loss.decor_weight = 0.0;
    let (c, _) = full_and_resumed_curves(&data, &plain, 3);
    assert_ne!(a, c);
}

/// Runs saved before a loss term existed (here: `bow_weight`) still read: the missing
/// term takes its default (off), so they resume and are recognised as finished.
#[test]
fn saved_options_without_a_newer_loss_term_read_with_its_default() {
    let opts = common::quiet_options();
    let mut saved = serde_json::to_value(&opts).unwrap();
    saved["loss"]
        .as_object_mut()
        .unwrap()
        .remove("bow_weight")
        .unwrap();
    for newer in ["decor_weight", "decor_queue"] {
        saved["loss"].as_object_mut().unwrap().remove(newer).unwrap();
    }
    let back: cllm_autoencoder::TrainOptions = serde_json::from_value(saved).unwrap();
    assert_eq!(back, opts);
    assert_eq!(back.loss.bow_weight, 0.0);
    assert_eq!(back.loss.decor_weight, 0.0);
}

/// The bag-of-words term reads the autoregressive decoder's prefix: a mirror run asking
/// for it is refused before the first step.
#[test]
fn the_bag_of_words_term_needs_the_autoregressive_decoder() {
    let data = common::data(40, 1);
    let mut opts = common::quiet_options();
    opts.model.decoder = cllm_autoencoder::DecoderConfig::Mirror;
    opts.loss.bow_weight = 1.0;
    let dir = tempfile::tempdir().unwrap();
    let err = train::<CpuTrainBackend>(
        &data,
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, AutoencoderError::InvalidConfig(ref m) if m.contains("bag-of-words")),
        "{err}"
    );
}
