//! The encode/decode API: shapes, typed errors, save → load → identical outputs,
//! fine-tuning from a saved model.

use crate::common;

use burn::backend::NdArray;
use cllm_autoencoder::{train, AutoencoderError, Cllm, CpuTrainBackend, RunControl, VocabTable};
use cllm_core::{TextVector, TokenMatrix};

fn vocab() -> VocabTable {
    VocabTable::from_embedding_table(
        &common::table(7),
        common::WIDTH,
        1..common::VOCAB as u32,
        common::PAD,
    )
    .unwrap()
}

fn matrix(ids: &[u32]) -> TokenMatrix {
    let v = vocab();
    let rows: Vec<f32> = ids
        .iter()
        .flat_map(|&id| v.row(v.index_of(id).unwrap()).to_vec())
        .collect();
    TokenMatrix::new(ids.len(), common::WIDTH, rows).unwrap()
}

#[test]
fn encode_decode_shapes_and_errors() {
    let _guard = common::serial();
    let device = Default::default();
    let cllm = Cllm::<NdArray>::new(common::tiny_config(), vocab(), 0, &device)
        .unwrap()
        .with_batch_size(2);
    let texts: Vec<TokenMatrix> = (1..6)
        .map(|n| matrix(&(1..=n as u32 * 2).collect::<Vec<_>>()))
        .collect();
    let vectors = cllm.encode(&texts).unwrap();
    assert_eq!(vectors.len(), 5);
    assert!(vectors.iter().all(|v| v.dim() == 8));
    // batching does not change results
    let one = cllm.encode(&texts[3..4]).unwrap();
    assert_eq!(one[0], vectors[3]);
    // ids path agrees with the matrix path
    let by_ids = cllm.encode_ids(&[(1..=8).collect()]).unwrap();
    let by_matrix = cllm
        .encode(&[matrix(&(1..=8).collect::<Vec<_>>())])
        .unwrap();
    for (a, b) in by_ids[0].as_slice().iter().zip(by_matrix[0].as_slice()) {
        assert!((a - b).abs() < 1e-5);
    }
    let restored = cllm.decode(&vectors).unwrap();
    assert_eq!(restored.len(), 5);
    assert!(restored
        .iter()
        .all(|m| m.cols() == common::WIDTH && m.rows() <= common::MAX_LEN));

    let wrong_width = TokenMatrix::new(2, 3, vec![0.0; 6]).unwrap();
    assert!(matches!(
        cllm.encode(&[wrong_width]),
        Err(AutoencoderError::WrongWidth { .. })
    ));
    let too_long = TokenMatrix::new(17, common::WIDTH, vec![0.0; 17 * common::WIDTH]).unwrap();
    assert!(matches!(
        cllm.encode(&[too_long]),
        Err(AutoencoderError::TooLong { len: 17, .. })
    ));
    let empty = TokenMatrix::new(0, common::WIDTH, vec![]).unwrap();
    assert!(matches!(
        cllm.encode(&[empty]),
        Err(AutoencoderError::Empty(_))
    ));
    let wrong_k = TextVector::new(vec![0.0; 3]).unwrap();
    assert!(matches!(
        cllm.decode(&[wrong_k]),
        Err(AutoencoderError::WrongWidth { .. })
    ));
    assert!(matches!(
        cllm.encode_ids(&[vec![999]]),
        Err(AutoencoderError::UnknownToken(999))
    ));
    assert!(cllm.encode(&[]).unwrap().is_empty());
}

#[test]
fn save_load_gives_identical_outputs() {
    let _guard = common::serial();
    let device = Default::default();
    let cllm = Cllm::<NdArray>::new(common::tiny_config(), vocab(), 3, &device).unwrap();
    let texts = vec![matrix(&[1, 2, 3, 4, 5]), matrix(&[9, 8, 7])];
    let before = cllm.encode(&texts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    cllm.save(&path).unwrap();
    cllm.save(&path).unwrap(); // overwriting is atomic and works
    let loaded = Cllm::<NdArray>::load(&path, &device).unwrap();
    assert_eq!(loaded.encode(&texts).unwrap(), before);
    assert_eq!(
        loaded.decode(&before).unwrap(),
        cllm.decode(&before).unwrap()
    );
    assert_eq!(loaded.vocab(), cllm.vocab());
    // corrupt weights are an error, not a panic
    std::fs::write(path.join("model.mpk"), b"not a record").unwrap();
    assert!(Cllm::<NdArray>::load(&path, &device).is_err());
}

#[test]
fn fine_tuning_starts_from_the_trained_weights_and_replays() {
    let _guard = common::serial();
    let device = Default::default();
    let old = common::data(30, 11);
    let mut opts = common::quiet_options();
    opts.max_steps = 40;
    opts.learning_rate = 3e-3;
    let dir1 = tempfile::tempdir().unwrap();
    let first = train::<CpuTrainBackend>(&old, &opts, dir1.path(), &device, &RunControl::default())
        .unwrap();

    // fine-tune on the same texts: the first step's loss must be the trained model's
    // (far below a fresh model's first loss)
    let mut ft = opts.clone();
    ft.init_from = Some(first.model_dir.clone());
    ft.max_steps = 2;
    let new_corpus = common::data(30, 12);
    let data = cllm_autoencoder::TrainData::new(
        new_corpus.cache.clone(),
        Some(old.cache.clone()),
        &common::table(7),
        common::WIDTH,
    )
    .unwrap();
    ft.replay_fraction = 0.5;
    let dir2 = tempfile::tempdir().unwrap();
    let tuned =
        train::<CpuTrainBackend>(&data, &ft, dir2.path(), &device, &RunControl::default()).unwrap();
    let fresh_first = first.state.history[0].loss;
    let tuned_first = tuned.state.history[0].loss;
    assert!(
        tuned_first < fresh_first,
        "fine-tune first loss {tuned_first} vs fresh {fresh_first}"
    );
    // an architecture mismatch is refused
    let mut bad = ft.clone();
    bad.model.k = 4;
    let dir3 = tempfile::tempdir().unwrap();
    assert!(
        train::<CpuTrainBackend>(&data, &bad, dir3.path(), &device, &RunControl::default())
            .is_err()
    );
}

/// A saved model directory of `config`, and its parts' bytes.
fn saved_model(config: cllm_autoencoder::CllmConfig, dir: &std::path::Path) -> std::path::PathBuf {
    let cllm = Cllm::<NdArray>::new(config, vocab(), 5, &Default::default()).unwrap();
    let path = dir.join("model");
    cllm.save(&path).unwrap();
    path
}

fn load_err(path: &std::path::Path) -> AutoencoderError {
    Cllm::<NdArray>::load(path, &Default::default())
        .expect_err("the model directory must be refused")
}

#[test]
fn a_record_that_does_not_match_its_config_is_a_typed_error() {
    use cllm_autoencoder::StageConfig;
    let _guard = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let good = saved_model(common::tiny_config(), dir.path());
    assert!(Cllm::<NdArray>::load(&good, &Default::default()).is_ok());
    let record = std::fs::read(good.join("model.mpk")).unwrap();
    let config = std::fs::read(good.join("config.json")).unwrap();
    let restore = || {
        std::fs::write(good.join("model.mpk"), &record).unwrap();
        std::fs::write(good.join("config.json"), &config).unwrap();
    };

    // a truncated record, cut anywhere
    for cut in [0, 1, record.len() / 3, record.len() / 2, record.len() - 1] {
        std::fs::write(good.join("model.mpk"), &record[..cut]).unwrap();
        let e = load_err(&good);
        assert!(
            matches!(e, AutoencoderError::Format { .. }),
            "cut at {cut}: {e}"
        );
    }
    restore();

    // the config of another model: another k, another stage count, another width
    let swap = |other: cllm_autoencoder::CllmConfig| {
        let sub = tempfile::tempdir().unwrap();
        let other_dir = saved_model(other, sub.path());
        std::fs::copy(other_dir.join("config.json"), good.join("config.json")).unwrap();
        let e = load_err(&good);
        restore();
        e
    };
    let mut k4 = common::tiny_config();
    k4.k = 4;
    let e = swap(k4);
    assert!(
        matches!(&e, AutoencoderError::WeightShape { tensor, expected, got, .. }
            if tensor.ends_with("_latent.weight") && expected.contains(&4) && got.contains(&8)),
        "{e}"
    );
    let two_stages = cllm_autoencoder::CllmConfig::new(
        common::WIDTH,
        common::MAX_LEN,
        32,
        8,
        vec![StageConfig::new(1, 4, 32), StageConfig::new(0, 2, 16)],
    )
    .with_heads(2);
    let e = swap(two_stages);
    assert!(
        matches!(&e, AutoencoderError::Format { detail, .. } if detail.contains("lacks") && detail.contains("stages.1")),
        "{e}"
    );
    let no_layers = cllm_autoencoder::CllmConfig::new(
        common::WIDTH,
        common::MAX_LEN,
        32,
        8,
        vec![StageConfig::new(0, 4, 32)],
    );
    let e = swap(no_layers);
    assert!(
        matches!(&e, AutoencoderError::Format { detail, .. } if detail.contains("blocks")),
        "{e}"
    );
    // a narrower model (a wider one is caught earlier, by the size bound below)
    let mut narrow = common::tiny_config();
    narrow.width = 16;
    narrow.stages[0].width_out = 16;
    let e = swap(narrow);
    assert!(
        matches!(&e, AutoencoderError::WeightShape { expected, got, .. } if expected.contains(&16) && got.contains(&32)),
        "{e}"
    );
    let mut wide = common::tiny_config();
    wide.width = 64;
    wide.stages[0].width_out = 64;
    let e = swap(wide);
    assert!(
        matches!(&e, AutoencoderError::Format { detail, .. } if detail.contains("cannot hold")),
        "{e}"
    );

    // a config claiming a model far larger than the record: refused before allocating
    let mut large = common::tiny_config();
    large.width = 1 << 13;
    large.stages[0].width_out = 1 << 13;
    std::fs::write(
        good.join("config.json"),
        serde_json::to_vec(&large).unwrap(),
    )
    .unwrap();
    let e = load_err(&good);
    assert!(
        matches!(&e, AutoencoderError::Format { detail, .. } if detail.contains("cannot hold")),
        "{e}"
    );
    // … and one over the config's bounds: named before the record is even read
    let mut huge = common::tiny_config();
    huge.width = 1 << 20;
    huge.stages[0].width_out = 1 << 20;
    std::fs::write(good.join("config.json"), serde_json::to_vec(&huge).unwrap()).unwrap();
    let e = load_err(&good);
    assert!(
        matches!(&e, AutoencoderError::InvalidConfig(m) if m.contains("width 1048576 is over the bound")),
        "{e}"
    );
    restore();

    // a vocabulary of another width than the config's input width
    let mut narrow = common::tiny_config();
    narrow.input_width = common::WIDTH / 2;
    std::fs::write(
        good.join("config.json"),
        serde_json::to_vec(&narrow).unwrap(),
    )
    .unwrap();
    let e = load_err(&good);
    assert!(matches!(e, AutoencoderError::WrongWidth { .. }), "{e}");
    restore();

    // a config.json that is not a config
    std::fs::write(good.join("config.json"), b"{\"k\": 8}").unwrap();
    assert!(matches!(load_err(&good), AutoencoderError::Format { .. }));
    restore();
    assert!(Cllm::<NdArray>::load(&good, &Default::default()).is_ok());
}

#[test]
fn non_finite_weights_are_refused() {
    let _guard = common::serial();
    let dir = tempfile::tempdir().unwrap();
    let path = saved_model(common::tiny_config(), dir.path());
    let mut record = std::fs::read(path.join("model.mpk")).unwrap();
    // the log_scale parameter is saved as the f32 0.0: overwrite one weight with NaN by
    // finding a run of f32 zeros (the LayerNorm betas) and setting one to NaN
    let zeros = [0u8; 16];
    let at = record
        .windows(16)
        .position(|w| w == zeros)
        .expect("a run of zero weights");
    record[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(path.join("model.mpk"), &record).unwrap();
    let e = load_err(&path);
    assert!(
        matches!(&e, AutoencoderError::Format { detail, .. } if detail.contains("non-finite")),
        "{e}"
    );
}

#[test]
fn an_incomplete_model_directory_is_a_typed_error() {
    let _guard = common::serial();
    let dir = tempfile::tempdir().unwrap();
    // an empty directory, and one that does not exist
    assert!(matches!(load_err(dir.path()), AutoencoderError::Io { .. }));
    assert!(matches!(
        load_err(&dir.path().join("absent")),
        AutoencoderError::Io { .. }
    ));
    for missing in ["vocab.safetensors", "model.mpk", "config.json"] {
        let sub = tempfile::tempdir().unwrap();
        let path = saved_model(common::tiny_config(), sub.path());
        std::fs::remove_file(path.join(missing)).unwrap();
        let e = load_err(&path);
        assert!(
            matches!(&e, AutoencoderError::Io { path, .. } if path.ends_with(missing)),
            "{missing}: {e}"
        );
    }
    // a vocabulary file that is not one
    let sub = tempfile::tempdir().unwrap();
    let path = saved_model(common::tiny_config(), sub.path());
    std::fs::write(path.join("vocab.safetensors"), b"garbage").unwrap();
    assert!(matches!(load_err(&path), AutoencoderError::Format { .. }));
}

#[test]
fn a_trained_model_with_latent_norm_keeps_its_statistics_and_standardises() {
    let _guard = common::serial();
    let data = common::data(48, 5);
    let mut opts = common::quiet_options();
    opts.model = common::ar_config().with_latent_norm(true);
    opts.max_steps = 30;
    opts.split.val_fraction = 0.0;
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let report =
        train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
            .unwrap();
    let cllm = Cllm::<cllm_backend::CpuBackend>::load(&report.model_dir, &device).unwrap();
    assert!(cllm.config().latent_norm);
    let ids: Vec<Vec<u32>> = data.cache.texts.iter().map(|t| t.ids.clone()).collect();
    let v = cllm.encode_ids(&ids).unwrap();
    let k = cllm.k();
    let n = v.len() as f64;
    // The statistics are averages over the last training batches (weight ≥ 0.05 each)
    // of an encoder still changing, not of these 48 texts exactly: each coordinate's mean
    // must be near 0 and the average variance near 1, to a factor of 2. The same training
    // without the norm gives raw vectors with a coordinate mean of 1.4 and fails here.
    let mut worst_mean = 0.0f64;
    let mut var_sum = 0.0f64;
    for j in 0..k {
        let mean = v.iter().map(|x| x.as_slice()[j] as f64).sum::<f64>() / n;
        let var = v
            .iter()
            .map(|x| (x.as_slice()[j] as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        worst_mean = worst_mean.max(mean.abs());
        var_sum += var;
    }
    let mean_var = var_sum / k as f64;
    assert!(worst_mean < 1.0, "largest coordinate mean {worst_mean}");
    assert!(
        (0.5..2.0).contains(&mean_var),
        "average variance {mean_var}"
    );
}
