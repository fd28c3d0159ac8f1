//! Random corruption of valid files: parsing and dequantising must never panic
//! (errors are fine).

use cllm_gguf::{GgmlType, GgufFile, GgufWriter, MetadataArray};
use proptest::prelude::*;

fn sample_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "llama").unwrap();
    w.add_metadata("llama.block_count", 2u32).unwrap();
    w.add_metadata(
        "tokenizer.ggml.tokens",
        MetadataArray::strings(["<s>", "</s>", "a", "bc"]),
    )
    .unwrap();
    w.add_metadata(
        "tokenizer.ggml.scores",
        MetadataArray::f32s([0.0, -1.0, -2.0, -3.0]),
    )
    .unwrap();
    w.add_metadata(
        "nested",
        MetadataArray::Array(vec![
            MetadataArray::i32s([1, 2]),
            MetadataArray::U8(vec![3]),
        ]),
    )
    .unwrap();
    let x: Vec<f32> = (0..2 * 64).map(|i| (i as f32 * 0.1).sin()).collect();
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
    ] {
        w.add_tensor_f32(&format!("t.{ty}"), &[2, 64], &x, ty)
            .unwrap();
    }
    let kq: Vec<u8> = (0..176).map(|i| (i * 31 % 256) as u8).collect();
    w.add_tensor_bytes("t.Q5_K", &[256], GgmlType::Q5_K, kq)
        .unwrap();
    w.to_bytes().unwrap()
}

/// Cases per property: `CLLM_GGUF_FUZZ_CASES` (default 4000) for longer local runs.
fn fuzz_cases() -> u32 {
    std::env::var("CLLM_GGUF_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000)
}

/// Uses everything a loader would: metadata getters and every tensor.
fn exercise(bytes: Vec<u8>) {
    if let Ok(f) = GgufFile::from_bytes(bytes) {
        let _ = f.get_str("general.architecture");
        let _ = f.get_u32("llama.block_count");
        let _ = f.get_str_array("tokenizer.ggml.tokens");
        let _ = f.get_f32_array("tokenizer.ggml.scores");
        let _ = f.get_i32_array("nested");
        for t in f.tensors().to_vec() {
            let _ = t.shape();
            let _ = f.tensor_bytes(&t.name).unwrap();
            if let Ok(v) = f.tensor_f32(&t.name) {
                assert_eq!(v.len() as u64, t.n_elements());
            }
            let _ = f.tensor_rows_f32(&t.name, 0..1);
        }
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let b = sample_file();
    let f = GgufFile::from_bytes(b.clone()).unwrap();
    // Only the padding after the last tensor's data may be cut.
    let end = f.data_offset()
        + f.tensors()
            .iter()
            .map(|t| (t.offset + t.n_bytes()) as usize)
            .max()
            .unwrap();
    assert!(end < b.len());
    for cut in 0..b.len() {
        let r = GgufFile::from_bytes(b[..cut].to_vec());
        assert_eq!(r.is_ok(), cut >= end, "cut at {cut}: {r:?}");
    }
}

#[test]
fn sample_is_valid() {
    let f = GgufFile::from_bytes(sample_file()).unwrap();
    assert_eq!(f.tensors().len(), 6);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), ..ProptestConfig::default() })]

    #[test]
    fn header_byte_mutations_never_panic(muts in prop::collection::vec((0usize..700, any::<u8>()), 1..4)) {
        let mut b = sample_file();
        for (i, v) in muts {
            let i = i.min(b.len() - 1);
            b[i] = v;
        }
        exercise(b);
    }

    #[test]
    fn byte_mutations_never_panic(muts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut b = sample_file();
        for (i, v) in muts {
            let i = i.index(b.len());
            b[i] = v;
        }
        exercise(b);
    }

    #[test]
    fn header_region_u64_mutations_never_panic(pos in 0usize..600, v in prop_oneof![Just(0u64), Just(u64::MAX), Just(1u64 << 32), Just(1u64 << 62), any::<u64>(), 0u64..64]) {
        let mut b = sample_file();
        let pos = pos.min(b.len().saturating_sub(8));
        b[pos..pos + 8].copy_from_slice(&v.to_le_bytes());
        exercise(b);
    }

    #[test]
    fn random_bytes_after_magic_never_panic(tail in prop::collection::vec(any::<u8>(), 0..512), v in 2u32..4) {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&v.to_le_bytes());
        b.extend(tail);
        exercise(b);
    }
}
