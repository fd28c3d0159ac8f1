//! A run interrupted and resumed from its checkpoint follows the uninterrupted loss curve.

use crate::common;

use cllm_autoencoder::{train, AutoencoderError, CpuTrainBackend, LossConfig, RunControl};

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
    let device = Default::default();

    let full_dir = tempfile::tempdir().unwrap();
    let full = train::<CpuTrainBackend>(
        &data,
        &opts,
        full_dir.path(),
        &device,
        &RunControl::default(),
    )
    .unwrap();
    assert_eq!(full.steps, 8);

    let dir = tempfile::tempdir().unwrap();
    let control = RunControl {
        stop_after_steps: Some(3),
        ..Default::default()
    };
    let err = train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &control).unwrap_err();
    assert!(
        matches!(err, AutoencoderError::Interrupted { step: 3, .. }),
        "{err}"
    );
    let resumed =
        train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
            .unwrap();
    assert_eq!(resumed.steps, 8);

    let a: Vec<f32> = full.state.history.iter().map(|r| r.loss).collect();
    let b: Vec<f32> = resumed.state.history.iter().map(|r| r.loss).collect();
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
