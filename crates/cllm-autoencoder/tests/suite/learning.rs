//! The learning test: a small CLLM overfits a few dozen short texts to ≥ 0.95 token
//! accuracy, which proves that the loss and the decoder path are wired right.

use crate::common;

use cllm_autoencoder::{train, Cllm, CpuTrainBackend, RunControl, StageConfig};

#[test]
fn overfits_a_few_dozen_short_texts() {
    let _guard = common::serial();
    let data = common::data(36, 3);
    let mut opts = common::quiet_options();
    opts.model = cllm_autoencoder::CllmConfig::new(
        common::WIDTH,
        common::MAX_LEN,
        64,
        32,
        vec![StageConfig::new(1, 4, 64)],
    )
    .with_heads(4);
    opts.split.val_fraction = 0.0;
    opts.batch_size = 12;
    opts.max_steps = 400;
    opts.warmup_steps = 20;
    opts.learning_rate = 3e-3;
    opts.eval_every = 100;
    opts.eval_max_texts = 64;
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let report =
        train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
            .unwrap();
    let best = report.best_val_token_accuracy.unwrap();
    eprintln!("evals: {:?}", report.state.evals);
    assert!(best >= 0.95, "token accuracy {best}");

    // the saved model decodes the training texts through the public API
    let cllm = Cllm::<cllm_backend::CpuBackend>::load(&report.model_dir, &device).unwrap();
    let ids: Vec<Vec<u32>> = data.cache.texts.iter().map(|t| t.ids.clone()).collect();
    let decoded = cllm.decode_ids(&cllm.encode_ids(&ids).unwrap()).unwrap();
    let correct: usize = ids
        .iter()
        .zip(&decoded)
        .map(|(a, b)| a.iter().zip(b).filter(|(x, y)| x == y).count())
        .sum();
    let total: usize = ids.iter().map(Vec::len).sum();
    assert!(correct as f64 / total as f64 >= 0.95);
}
