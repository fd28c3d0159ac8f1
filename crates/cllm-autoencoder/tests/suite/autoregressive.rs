//! The autoregressive decoder: it learns a dozen texts to exact free-running
//! reconstruction, its cached generation equals full recomputation, and decoding rejects
//! bad input with typed errors.

use crate::common;

use burn::tensor::{Distribution, Tensor};
use cllm_autoencoder::{
    train, AutoencoderError, Cllm, CllmModel, CpuTrainBackend, DecodeOptions, RunControl, Search,
};
use cllm_backend::CpuBackend;
use cllm_core::TextVector;

#[test]
fn learns_a_dozen_texts_to_exact_free_running_reconstruction() {
    let _guard = common::serial();
    let data = common::data(12, 5);
    let mut opts = common::quiet_options();
    opts.model = common::ar_config();
    opts.split.val_fraction = 0.0;
    opts.batch_size = 12;
    opts.max_steps = 300;
    opts.warmup_steps = 20;
    opts.learning_rate = 3e-3;
    opts.eval_every = 100;
    let dir = tempfile::tempdir().unwrap();
    let device = Default::default();
    let report =
        train::<CpuTrainBackend>(&data, &opts, dir.path(), &device, &RunControl::default())
            .unwrap();
    eprintln!("evals: {:?}", report.state.evals);
    let cllm = Cllm::<CpuBackend>::load(&report.model_dir, &device).unwrap();
    let ids: Vec<Vec<u32>> = data.cache.texts.iter().map(|t| t.ids.clone()).collect();
    let decoded = cllm
        .generate(
            &cllm.encode_ids(&ids).unwrap(),
            &DecodeOptions::plain_greedy(),
        )
        .unwrap();
    let exact = ids
        .iter()
        .zip(&decoded)
        .filter(|(a, d)| d.ended && d.ids == **a)
        .count();
    assert_eq!(exact, ids.len(), "free-running decodes: {decoded:?}");
    // beam search finds the same texts (they are far more probable than any other)
    let beam = cllm
        .generate(
            &cllm.encode_ids(&ids).unwrap(),
            &DecodeOptions {
                search: Search::Beam { width: 3 },
                ..DecodeOptions::plain_greedy()
            },
        )
        .unwrap();
    assert_eq!(
        beam.iter().map(|d| d.ids.clone()).collect::<Vec<_>>(),
        decoded.iter().map(|d| d.ids.clone()).collect::<Vec<_>>()
    );
}

/// Generation with the key/value cache gives, position by position, the outputs of the
/// full teacher-forced pass over the tokens it chose. Both are f32 sums of the same
/// products in other orders (attention over a growing prefix against one causal pass):
/// differences are rounding, a few ulps of values of order 1, so 1e-4 absolute; a wrong
/// position, mask or cache would differ by O(0.1).
#[test]
fn cached_generation_equals_full_recomputation() {
    let _guard = common::serial();
    let device = Default::default();
    <CpuBackend as burn::tensor::backend::Backend>::seed(&device, 3);
    let model = CllmModel::<CpuBackend>::new(&common::ar_config(), &device).unwrap();
    let ar = model.autoregressive().unwrap();
    let z = Tensor::<CpuBackend, 2>::random([3, 32], Distribution::Normal(0.0, 1.0), &device);
    let inputs = Tensor::<CpuBackend, 3>::random(
        [3, 6, common::WIDTH],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let full = ar.forward(z.clone(), inputs.clone(), None);
    // a one-token pass reads only the vector and the begin vector, like the first step
    let first = ar.forward(z.clone(), inputs.clone().narrow(1, 0, 1), None);
    let diff = (first.reshape([3, common::WIDTH])
        - full.clone().narrow(1, 0, 1).reshape([3, common::WIDTH]))
    .abs()
    .max()
    .into_scalar();
    assert!(
        diff < 1e-4,
        "a one-token pass differs from the first position by {diff}"
    );
    let (mut rows, mut state) = ar.start(z);
    for p in 0..6 {
        let want = full.clone().narrow(1, p, 1).reshape([3, common::WIDTH]);
        let diff = (rows.clone() - want).abs().max().into_scalar();
        assert!(diff < 1e-4, "position {p}: cached differs by {diff}");
        if p + 1 < 6 {
            let next = inputs.clone().narrow(1, p, 1).reshape([3, common::WIDTH]);
            (rows, state) = ar.step(next, state).unwrap();
        }
    }
}

#[test]
fn decoding_bad_vectors_is_a_typed_error() {
    let device = Default::default();
    let table = common::table(7);
    let vocab = cllm_autoencoder::VocabTable::from_embedding_table(
        &table,
        common::WIDTH,
        0..common::VOCAB as u32,
        0,
    )
    .unwrap();
    let cllm = Cllm::<CpuBackend>::new(common::ar_config(), vocab, 0, &device).unwrap();
    let wrong = TextVector::new(vec![0.0; 5]).unwrap();
    assert!(matches!(
        cllm.generate(&[wrong], &DecodeOptions::default()),
        Err(AutoencoderError::WrongWidth { .. })
    ));
    assert!(
        TextVector::new(vec![f32::NAN; 32]).is_err(),
        "NaN vectors cannot be made"
    );
    let ok = TextVector::new(vec![0.1; 32]).unwrap();
    let bad = DecodeOptions {
        search: Search::Beam { width: 0 },
        ..DecodeOptions::default()
    };
    assert!(matches!(
        cllm.generate(std::slice::from_ref(&ok), &bad),
        Err(AutoencoderError::InvalidConfig(_))
    ));
    // an untrained decoder still stops at the model's length and names only table ids
    let out = cllm
        .generate(
            &[ok],
            &DecodeOptions {
                max_tokens: Some(5),
                ..DecodeOptions::default()
            },
        )
        .unwrap();
    assert!(out[0].ids.len() <= 5);
    assert!(out[0].ids.iter().all(|&i| (i as usize) < common::VOCAB));
}

/// With the bag-of-words term the loss is the token cross-entropy plus the term (at least
/// the entropy of a text's bag, so clearly positive), and training lowers the term: the
/// prefix output learns the texts' words from the vector.
#[test]
fn the_bag_of_words_term_adds_to_the_loss_and_is_learned() {
    let _guard = common::serial();
    let data = common::data(12, 5);
    let mut opts = common::quiet_options();
    opts.model = common::ar_config();
    opts.split.val_fraction = 0.0;
    opts.batch_size = 12;
    opts.max_steps = 60;
    opts.warmup_steps = 5;
    opts.learning_rate = 3e-3;
    opts.loss.bow_weight = 1.0;
    let dir = tempfile::tempdir().unwrap();
    let report = train::<CpuTrainBackend>(
        &data,
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap();
    let h = &report.state.history;
    let bow = |r: &cllm_autoencoder::train::StepRecord| r.loss - r.ce;
    assert!(
        bow(&h[0]) > 0.5,
        "first step: total {} ce {}",
        h[0].loss,
        h[0].ce
    );
    let last = h.last().unwrap();
    assert!(
        bow(last) < 0.8 * bow(&h[0]),
        "bag-of-words term {} -> {}",
        bow(&h[0]),
        bow(last)
    );
}
