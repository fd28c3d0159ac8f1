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
