//! One test per way an untrusted file can be malformed: each must give its typed
//! error, never a panic.

mod common;

use cllm_gguf::{GgmlType, GgufError, GgufFile, GgufWriter, MetadataArray};
use common::Raw;

const F32: u32 = 0;
const Q8_0: u32 = 8;

fn parse(b: Vec<u8>) -> GgufError {
    GgufFile::from_bytes(b).expect_err("malformed file must be rejected")
}

/// A valid file: one KV, one 32-element f32 tensor.
fn valid() -> Vec<u8> {
    let mut r = Raw::header(3, 1, 1);
    r.kv_u32("k", 7).tensor("t", &[32], F32, 0).data(32, 128);
    r.done()
}

#[test]
fn valid_baseline_parses() {
    let f = GgufFile::from_bytes(valid()).unwrap();
    assert_eq!(f.get_u32("k").unwrap(), 7);
    assert_eq!(f.tensor_f32("t").unwrap().len(), 32);
}

#[test]
fn bad_magic() {
    let mut b = valid();
    b[0] = b'X';
    assert!(matches!(parse(b), GgufError::BadMagic { .. }));
    assert!(matches!(parse(b"GG".to_vec()), GgufError::BadMagic { .. }));
    assert!(matches!(parse(Vec::new()), GgufError::BadMagic { .. }));
}

#[test]
fn empty_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.gguf");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(
        GgufFile::open(&p).unwrap_err(),
        GgufError::BadMagic { .. }
    ));
    let e = GgufFile::open(dir.path().join("missing.gguf")).unwrap_err();
    assert!(matches!(e, GgufError::Io { .. }));
    assert!(e.to_string().contains("missing.gguf"));
}

#[test]
fn version_1_and_unknown_versions() {
    for v in [0u32, 1, 4, 99] {
        let mut b = valid();
        b[4..8].copy_from_slice(&v.to_le_bytes());
        assert!(
            matches!(parse(b), GgufError::UnsupportedVersion { version } if version == v),
            "v{v}"
        );
    }
}

#[test]
fn big_endian() {
    for v in [2u32, 3] {
        let mut b = valid();
        b[4..8].copy_from_slice(&v.to_be_bytes());
        assert!(matches!(parse(b), GgufError::BigEndian { version } if version == v));
    }
}

#[test]
fn truncated_everywhere() {
    let b = valid();
    for len in 4..b.len() {
        let e = GgufFile::from_bytes(b[..len].to_vec()).expect_err("truncated");
        assert!(
            matches!(
                e,
                GgufError::Truncated { .. }
                    | GgufError::StringTooLong { .. }
                    | GgufError::CountTooLarge { .. }
                    | GgufError::TensorOutOfBounds { .. }
            ),
            "len {len}: {e}"
        );
    }
    // Truncated in the middle of the header names what was being read.
    let e = parse(b[..10].to_vec());
    assert!(e.to_string().contains("tensor count"), "{e}");
}

#[test]
fn absurd_counts() {
    let mut r = Raw::header(3, 1, u64::MAX);
    assert!(matches!(
        parse(r.done()),
        GgufError::CountTooLarge {
            count: u64::MAX,
            ..
        }
    ));
    let mut r = Raw::header(3, u64::MAX, 0);
    assert!(matches!(
        parse(r.data(32, 64).done()),
        GgufError::CountTooLarge { .. }
    ));
    let mut r = Raw::header(3, 1 << 40, 0);
    assert!(matches!(parse(r.done()), GgufError::CountTooLarge { .. }));
}

#[test]
fn string_longer_than_file() {
    let mut r = Raw::header(3, 0, 1);
    r.u64(u64::MAX - 3).u32(0).u32(0);
    let e = parse(r.done());
    assert!(
        matches!(e, GgufError::StringTooLong { len, .. } if len == u64::MAX - 3),
        "{e}"
    );
    // A string value too long.
    let mut r = Raw::header(3, 0, 1);
    r.str("key").u32(8).u64(1 << 50);
    let e = parse(r.done());
    assert!(
        matches!(&e, GgufError::StringTooLong { what, .. } if what.contains("\"key\"")),
        "{e}"
    );
}

#[test]
fn invalid_utf8() {
    let mut r = Raw::header(3, 0, 1);
    r.u64(2);
    r.b.extend_from_slice(&[0xff, 0xfe]);
    r.u32(4).u32(1);
    assert!(matches!(parse(r.done()), GgufError::InvalidUtf8 { .. }));
}

#[test]
fn array_length_larger_than_file() {
    let mut r = Raw::header(3, 0, 1);
    r.str("arr").u32(9).u32(4).u64(1 << 60); // array<u32> with 2^60 elements
    assert!(matches!(parse(r.done()), GgufError::CountTooLarge { count, .. } if count == 1 << 60));
    let mut r = Raw::header(3, 0, 1);
    r.str("arr").u32(9).u32(8).u64(1000).u64(0); // 1000 strings, 8 bytes left
    assert!(matches!(parse(r.done()), GgufError::CountTooLarge { .. }));
}

#[test]
fn invalid_value_types() {
    let mut r = Raw::header(3, 0, 1);
    r.str("k").u32(13).u32(0);
    assert!(matches!(
        parse(r.done()),
        GgufError::InvalidValueType { type_id: 13, .. }
    ));
    let mut r = Raw::header(3, 0, 1);
    r.str("k").u32(9).u32(77).u64(1).u32(0);
    assert!(matches!(
        parse(r.done()),
        GgufError::InvalidValueType { type_id: 77, .. }
    ));
}

#[test]
fn arrays_nested_too_deep() {
    let mut r = Raw::header(3, 0, 1);
    r.str("deep");
    r.u32(9);
    for _ in 0..100 {
        r.u32(9).u64(1);
    }
    r.b.resize(r.b.len() + 64, 0);
    assert!(matches!(parse(r.done()), GgufError::NestingTooDeep { .. }));
}

#[test]
fn duplicate_key() {
    let mut r = Raw::header(3, 0, 2);
    r.kv_u32("k", 1).kv_u32("k", 2);
    assert!(matches!(parse(r.done()), GgufError::DuplicateKey { key } if key == "k"));
}

#[test]
fn bad_alignment() {
    for (ty, val) in [(4u32, 0u64), (4, 3), (4, 48)] {
        let mut r = Raw::header(3, 0, 1);
        r.str("general.alignment").u32(ty).u32(val as u32);
        assert!(
            matches!(parse(r.done()), GgufError::InvalidAlignment { .. }),
            "{val}"
        );
    }
    let mut r = Raw::header(3, 0, 1);
    r.str("general.alignment").u32(8).str("32");
    assert!(matches!(
        parse(r.done()),
        GgufError::InvalidAlignment { .. }
    ));
}

#[test]
fn custom_alignment_is_honoured() {
    let mut r = Raw::header(3, 2, 1);
    r.kv_u32("general.alignment", 64)
        .tensor("a", &[4], F32, 0)
        .tensor("b", &[4], F32, 64)
        .data(64, 128);
    let f = GgufFile::from_bytes(r.done()).unwrap();
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.data_offset() % 64, 0);
    // ... and offsets must respect it.
    let mut r = Raw::header(3, 2, 1);
    r.kv_u32("general.alignment", 64)
        .tensor("a", &[4], F32, 0)
        .tensor("b", &[4], F32, 32)
        .data(64, 128);
    assert!(matches!(
        parse(r.done()),
        GgufError::MisalignedOffset {
            alignment: 64,
            offset: 32,
            ..
        }
    ));
}

#[test]
fn bad_dim_counts() {
    for dims in [&[][..], &[1, 1, 1, 1, 1][..]] {
        let mut r = Raw::header(3, 1, 0);
        r.tensor("t", dims, F32, 0).data(32, 64);
        assert!(
            matches!(parse(r.done()), GgufError::InvalidDimCount { .. }),
            "{dims:?}"
        );
    }
    let mut r = Raw::header(3, 1, 0);
    r.str("t").u32(u32::MAX).data(32, 64);
    assert!(matches!(
        parse(r.done()),
        GgufError::InvalidDimCount {
            n_dims: u32::MAX,
            ..
        }
    ));
}

#[test]
fn zero_dim() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[32, 0], F32, 0).data(32, 64);
    assert!(matches!(parse(r.done()), GgufError::ZeroDim { .. }));
}

#[test]
fn element_count_overflow() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[1 << 32, 1 << 32, 1 << 32], F32, 0)
        .data(32, 64);
    assert!(matches!(
        parse(r.done()),
        GgufError::ElementCountOverflow { .. }
    ));
    // Element count fits but byte size does not.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[1 << 31, 1 << 31], F32, 0).data(32, 64);
    assert!(matches!(
        parse(r.done()),
        GgufError::ElementCountOverflow { .. }
    ));
}

#[test]
fn unknown_type_id() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[32], 4, 0).data(32, 64); // 4 and 5 were removed from ggml
    let e = parse(r.done());
    assert!(
        matches!(&e, GgufError::UnsupportedType { tensor, type_id: 4 } if tensor == "t"),
        "{e}"
    );
}

#[test]
fn known_but_not_dequantisable_type() {
    // IQ4_NL: 32-element blocks of 18 bytes. Opens fine, raw bytes available, but
    // dequantising is refused with a typed error.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[32], GgmlType::IQ4_NL.id(), 0).data(32, 18);
    let f = GgufFile::from_bytes(r.done()).unwrap();
    assert_eq!(f.tensor_bytes("t").unwrap().len(), 18);
    assert!(matches!(
        f.tensor_f32("t").unwrap_err(),
        GgufError::UnsupportedType { type_id: 20, .. }
    ));
}

#[test]
fn not_a_multiple_of_the_block_size() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[33, 2], Q8_0, 0).data(32, 1024);
    let e = parse(r.done());
    assert!(
        matches!(
            e,
            GgufError::NotBlockMultiple {
                ne0: 33,
                block_size: 32,
                ..
            }
        ),
        "{e}"
    );
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[128], GgmlType::Q4_K.id(), 0).data(32, 1024);
    assert!(matches!(
        parse(r.done()),
        GgufError::NotBlockMultiple {
            block_size: 256,
            ..
        }
    ));
}

#[test]
fn tensor_data_out_of_bounds() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[32], F32, 0).data(32, 127);
    assert!(matches!(
        parse(r.done()),
        GgufError::TensorOutOfBounds {
            size: 128,
            data_len: 127,
            ..
        }
    ));
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[32], F32, u64::MAX - 31).data(32, 128);
    assert!(matches!(
        parse(r.done()),
        GgufError::TensorOutOfBounds { .. }
    ));
    // No data section at all.
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[32], F32, 0);
    assert!(matches!(
        parse(r.done()),
        GgufError::TensorOutOfBounds { data_len: 0, .. }
    ));
}

#[test]
fn misaligned_offset() {
    let mut r = Raw::header(3, 1, 0);
    r.tensor("t", &[4], F32, 4).data(32, 64);
    assert!(matches!(
        parse(r.done()),
        GgufError::MisalignedOffset {
            offset: 4,
            alignment: 32,
            ..
        }
    ));
}

#[test]
fn overlapping_tensors() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("a", &[32], F32, 0)
        .tensor("b", &[8], F32, 96)
        .data(32, 256);
    let e = parse(r.done());
    assert!(
        matches!(&e, GgufError::OverlappingTensors { first, second } if first == "a" && second == "b"),
        "{e}"
    );
    // Adjacent is fine.
    let mut r = Raw::header(3, 2, 0);
    r.tensor("a", &[32], F32, 0)
        .tensor("b", &[8], F32, 128)
        .data(32, 256);
    GgufFile::from_bytes(r.done()).unwrap();
}

#[test]
fn duplicate_tensor_names() {
    let mut r = Raw::header(3, 2, 0);
    r.tensor("a", &[8], F32, 0)
        .tensor("a", &[8], F32, 32)
        .data(32, 64);
    assert!(matches!(parse(r.done()), GgufError::DuplicateTensor { tensor } if tensor == "a"));
}

#[test]
fn typed_getter_errors_name_the_key() {
    let mut w = GgufWriter::new();
    w.add_metadata("u", 5u64).unwrap();
    w.add_metadata("neg", -1i32).unwrap();
    w.add_metadata("big", u64::MAX).unwrap();
    w.add_metadata("s", "x").unwrap();
    w.add_metadata("f", 1.5f32).unwrap();
    w.add_metadata("arr", MetadataArray::i32s([1, -1])).unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    // Integer getters accept any width that fits.
    assert_eq!(f.get_u32("u").unwrap(), 5);
    assert_eq!(f.get_i32("u").unwrap(), 5);
    assert_eq!(f.get_i64("neg").unwrap(), -1);
    assert!(
        matches!(f.get_u32("neg").unwrap_err(), GgufError::OutOfRange { key, .. } if key == "neg")
    );
    assert!(matches!(
        f.get_u32("big").unwrap_err(),
        GgufError::OutOfRange { .. }
    ));
    assert_eq!(f.get_u64("big").unwrap(), u64::MAX);
    assert!(
        matches!(f.get_u32("nope").unwrap_err(), GgufError::MissingKey { key } if key == "nope")
    );
    let e = f.get_u32("s").unwrap_err();
    assert!(
        matches!(&e, GgufError::WrongType { key, found, .. } if key == "s" && found == "string"),
        "{e}"
    );
    assert!(matches!(
        f.get_str("f").unwrap_err(),
        GgufError::WrongType { .. }
    ));
    assert!(matches!(
        f.get_bool("f").unwrap_err(),
        GgufError::WrongType { .. }
    ));
    assert!(matches!(
        f.get_f32("s").unwrap_err(),
        GgufError::WrongType { .. }
    ));
    assert!(
        matches!(f.get_str_array("arr").unwrap_err(), GgufError::WrongType { found, .. } if found == "array<i32>")
    );
    assert!(matches!(
        f.get_f32_array("arr").unwrap_err(),
        GgufError::WrongType { .. }
    ));
    assert!(matches!(
        f.get_u32_array("arr").unwrap_err(),
        GgufError::OutOfRange { .. }
    ));
    assert_eq!(f.get_i32_array("arr").unwrap(), [1, -1]);
    assert!(matches!(
        f.tensor_f32("none").unwrap_err(),
        GgufError::TensorNotFound { .. }
    ));
    assert!(matches!(
        f.tensor_info("none").unwrap_err(),
        GgufError::TensorNotFound { .. }
    ));
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = GgufWriter::new();
    w.add_metadata("k", 1u32).unwrap();
    assert!(matches!(
        w.add_metadata("k", 2u32).unwrap_err(),
        GgufError::InvalidMetadata { .. }
    ));
    assert!(matches!(
        w.add_metadata("general.alignment", 48u32).unwrap_err(),
        GgufError::InvalidMetadata { .. }
    ));
    assert!(matches!(
        w.add_tensor_f32("t", &[2, 3], &[0.0; 5], GgmlType::F32)
            .unwrap_err(),
        GgufError::InvalidTensorData { .. }
    ));
    assert!(matches!(
        w.add_tensor_f32("t", &[2, 16], &[0.0; 32], GgmlType::Q8_0)
            .unwrap_err(),
        GgufError::NotBlockMultiple { .. }
    ));
    assert!(matches!(
        w.add_tensor_f32("t", &[256], &[0.0; 256], GgmlType::Q4_K)
            .unwrap_err(),
        GgufError::UnsupportedQuantization { .. }
    ));
    assert!(matches!(
        w.add_tensor_f32("t", &[], &[], GgmlType::F32).unwrap_err(),
        GgufError::InvalidDimCount { .. }
    ));
    assert!(matches!(
        w.add_tensor_f32("t", &[0], &[], GgmlType::F32).unwrap_err(),
        GgufError::ZeroDim { .. }
    ));
    assert!(matches!(
        w.add_tensor_bytes("t", &[32], GgmlType::Q8_0, vec![0; 33])
            .unwrap_err(),
        GgufError::InvalidTensorData { .. }
    ));
    w.add_tensor_f32("t", &[1], &[1.0], GgmlType::F32).unwrap();
    assert!(matches!(
        w.add_tensor_f32("t", &[1], &[1.0], GgmlType::F32)
            .unwrap_err(),
        GgufError::DuplicateTensor { .. }
    ));
    assert!(matches!(
        w.set_version(1).unwrap_err(),
        GgufError::UnsupportedVersion { .. }
    ));
}

#[test]
fn errors_display_the_problem() {
    let e = GgufError::NotBlockMultiple {
        tensor: "w".into(),
        ne0: 33,
        block_size: 32,
        ggml_type: "Q8_0".into(),
    };
    assert!(e.to_string().contains("\"w\"") && e.to_string().contains("33"));
}
