//! The semantic alignment term and the vector files that carry its targets.

use std::collections::HashMap;

use burn::backend::NdArray;
use cllm_autoencoder::semantic::SemanticTargets;
use cllm_autoencoder::{
    read_vectors, train, AutoencoderError, Cllm, CpuTrainBackend, RunControl, VectorFile,
};
use safetensors::tensor::{Dtype, TensorView};

use crate::common;

/// Targets that put the toy corpus's three families (a/b/c, cycling) at three far-apart
/// points of a 6-D space, with a little seeded jitter.
fn family_targets(n: usize) -> VectorFile {
    let dim = 6;
    let mut data = Vec::with_capacity(n * dim);
    for i in 0..n {
        let fam = i % 3;
        for j in 0..dim {
            let centre = if j == fam { 1.0 } else { 0.0 };
            let jitter = ((i * 31 + j * 17) % 13) as f32 / 13.0 * 0.05;
            data.push(centre + jitter);
        }
    }
    VectorFile {
        ids: (0..n).map(|i| format!("t{i}")).collect(),
        dim,
        data,
        ..Default::default()
    }
}

/// Mean distance between text vectors of the same family over the mean distance between
/// vectors of different families (small = families form their own groups).
fn family_ratio(vectors: &[Vec<f32>]) -> f64 {
    let (mut same, mut ns, mut diff, mut nd) = (0.0, 0, 0.0, 0);
    for i in 0..vectors.len() {
        for j in i + 1..vectors.len() {
            let d: f32 = vectors[i]
                .iter()
                .zip(&vectors[j])
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt();
            if i % 3 == j % 3 {
                same += d as f64;
                ns += 1;
            } else {
                diff += d as f64;
                nd += 1;
            }
        }
    }
    (same / ns as f64) / (diff / nd as f64)
}

fn vectors_after_training(align_weight: f64) -> Vec<Vec<f32>> {
    let n = 36;
    let data = common::data(n, 5)
        .with_semantic(SemanticTargets::from_vector_file(family_targets(n)).unwrap())
        .unwrap();
    let mut opts = common::quiet_options();
    opts.max_steps = 400;
    opts.learning_rate = 3e-3;
    opts.loss.align_weight = align_weight;
    opts.split.val_fraction = 0.0;
    let dir = tempfile::tempdir().unwrap();
    let report = train::<CpuTrainBackend>(
        &data,
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap();
    assert!(report.final_loss.is_finite());
    let cllm = Cllm::<NdArray>::load(&report.model_dir, &Default::default()).unwrap();
    let ids: Vec<Vec<u32>> = data.cache.texts.iter().map(|t| t.ids.clone()).collect();
    cllm.encode_ids(&ids)
        .unwrap()
        .into_iter()
        .map(|v| v.as_slice().to_vec())
        .collect()
}

#[test]
fn alignment_makes_text_vectors_follow_the_sentence_embeddings() {
    let _guard = common::serial();
    // the toy texts are random token strings: nothing but the alignment term groups them.
    // Measured (seeded, CPU): plain 0.993, aligned 0.699 at weight 20 (0.2 at weight 200;
    // the token loss needs distinct vectors for the texts of one family, so it pulls back).
    let plain = family_ratio(&vectors_after_training(0.0));
    let aligned = family_ratio(&vectors_after_training(20.0));
    assert!(
        aligned < 0.8 * plain,
        "same-family/other-family distance ratio: aligned {aligned:.3} vs plain {plain:.3}"
    );
}

#[test]
fn alignment_needs_targets_that_cover_the_corpus() {
    let _guard = common::serial();
    let mut opts = common::quiet_options();
    opts.loss.align_weight = 1.0;
    let dir = tempfile::tempdir().unwrap();
    let err = train::<CpuTrainBackend>(
        &common::data(12, 1),
        &opts,
        dir.path(),
        &Default::default(),
        &RunControl::default(),
    )
    .unwrap_err();
    assert!(matches!(err, AutoencoderError::InvalidConfig(_)), "{err}");

    let foreign = VectorFile {
        ids: vec!["x".into(), "y".into()],
        dim: 2,
        data: vec![1.0, 0.0, 0.0, 1.0],
        ..Default::default()
    };
    let t = SemanticTargets::from_vector_file(foreign).unwrap();
    assert!(common::data(12, 1).with_semantic(t).is_err());
    // zero rows and repeated ids are refused
    let zero = VectorFile {
        ids: vec!["a".into()],
        dim: 2,
        data: vec![0.0, 0.0],
        ..Default::default()
    };
    assert!(SemanticTargets::from_vector_file(zero).is_err());
    let twice = VectorFile {
        ids: vec!["a".into(), "a".into()],
        dim: 1,
        data: vec![1.0, 2.0],
        ..Default::default()
    };
    assert!(SemanticTargets::from_vector_file(twice).is_err());
}

fn write_file(
    path: &std::path::Path,
    dtype: Dtype,
    shape: Vec<usize>,
    data: &[u8],
    ids: Option<&str>,
) {
    let view = TensorView::new(dtype, shape, data).unwrap();
    let meta = ids.map(|i| HashMap::from([("ids".to_string(), i.to_string())]));
    std::fs::write(
        path,
        safetensors::serialize(vec![("vectors", view)], meta).unwrap(),
    )
    .unwrap();
}

#[test]
fn malformed_vector_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.safetensors");
    let floats = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let is_format =
        |r: Result<VectorFile, AutoencoderError>| matches!(r, Err(AutoencoderError::Format { .. }));

    write_file(
        &p,
        Dtype::F32,
        vec![2, 2],
        &floats(&[1.0, 2.0, 3.0, 4.0]),
        Some(r#"["a","b"]"#),
    );
    let ok = read_vectors(&p).unwrap();
    assert_eq!(
        (ok.ids.len(), ok.dim, ok.row(1)),
        (2, 2, &[3.0f32, 4.0][..])
    );

    write_file(
        &p,
        Dtype::F32,
        vec![2, 2],
        &floats(&[1.0, 2.0, 3.0, 4.0]),
        Some(r#"["a"]"#),
    );
    assert!(is_format(read_vectors(&p)), "ids and rows disagree");
    write_file(
        &p,
        Dtype::F32,
        vec![2, 2],
        &floats(&[1.0, 2.0, 3.0, 4.0]),
        None,
    );
    assert!(is_format(read_vectors(&p)), "no ids");
    write_file(
        &p,
        Dtype::F32,
        vec![4],
        &floats(&[1.0, 2.0, 3.0, 4.0]),
        Some(r#"["a"]"#),
    );
    assert!(is_format(read_vectors(&p)), "1-D");
    write_file(
        &p,
        Dtype::I32,
        vec![1, 4],
        &floats(&[1.0, 2.0, 3.0, 4.0]),
        Some(r#"["a"]"#),
    );
    assert!(is_format(read_vectors(&p)), "dtype");
    write_file(
        &p,
        Dtype::F32,
        vec![1, 2],
        &floats(&[1.0, f32::NAN]),
        Some(r#"["a"]"#),
    );
    assert!(is_format(read_vectors(&p)), "NaN");
    std::fs::write(&p, b"\x08\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
    assert!(is_format(read_vectors(&p)), "no tensor");
    std::fs::write(&p, b"garbage").unwrap();
    assert!(is_format(read_vectors(&p)), "garbage");
    assert!(matches!(
        read_vectors(&dir.path().join("missing")),
        Err(AutoencoderError::Io { .. })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Truncated or mutated vector files never panic.
    #[test]
    fn damaged_vector_files_never_panic(cut in 0usize..200, flip in 0usize..200, byte in 0u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.safetensors");
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        write_file(&p, Dtype::F32, vec![2, 2], &data, Some(r#"["a","b"]"#));
        let mut bytes = std::fs::read(&p).unwrap();
        if flip < bytes.len() { bytes[flip] = byte; }
        bytes.truncate(bytes.len().saturating_sub(cut % 8 * (cut / 8 % 2)));
        std::fs::write(&p, &bytes).unwrap();
        let _ = read_vectors(&p);
    }
}
