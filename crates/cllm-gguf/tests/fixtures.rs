//! Bit-exact agreement with llama.cpp's gguf-py (fixtures written by
//! `scripts/gguf_make_fixtures.py`).

mod common;

use cllm_gguf::{quantize, GgmlType, GgufFile, MetadataArray, MetadataValue, ValueType};
use common::{fixture_dir, read_f32s};

const DEQUANT_TYPES: [&str; 13] = [
    "F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
    "Q6_K",
];

fn type_named(name: &str) -> GgmlType {
    GgmlType::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap()
}

#[test]
fn dequantisation_matches_gguf_py_bit_exactly() {
    for name in DEQUANT_TYPES {
        let dir = fixture_dir();
        let f = GgufFile::open(dir.join(format!("dequant_{name}.gguf"))).unwrap();
        assert_eq!(f.version(), 3);
        let t = f.tensor_info("t").unwrap();
        assert_eq!(t.ggml_type, type_named(name), "{name}");
        assert_eq!(t.dims, vec![256, 4], "{name}");
        assert_eq!(t.shape(), vec![4, 256], "{name}");
        let got = f.tensor_f32("t").unwrap();
        let want = read_f32s(&dir.join(format!("dequant_{name}.f32.bin")));
        assert_eq!(got.len(), want.len(), "{name}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g.to_bits(),
                w.to_bits(),
                "{name}: element {i}: got {g}, gguf-py {w}"
            );
        }
        // Row access agrees with the whole tensor.
        let rows = f.tensor_rows_f32("t", 1..3).unwrap();
        assert_eq!(rows, got[256..768], "{name}");
    }
}

#[test]
fn quantisers_match_gguf_py_byte_exactly() {
    let dir = fixture_dir();
    let src = read_f32s(&dir.join("quant_src.f32.bin"));
    for name in ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1"] {
        let want = std::fs::read(dir.join(format!("quant_{name}.bin"))).unwrap();
        let mut got = Vec::new();
        quantize(type_named(name), &src, &mut got).unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        let ts = type_named(name).type_size();
        for (i, (g, w)) in got.chunks(ts).zip(want.chunks(ts)).enumerate() {
            assert_eq!(g, w, "{name}: block {i} differs");
        }
    }
}

#[test]
fn metadata_of_every_type_matches_gguf_py() {
    let dir = fixture_dir();
    let f = GgufFile::open(dir.join("metadata.gguf")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("metadata.json")).unwrap()).unwrap();
    let keys: Vec<&str> = f.metadata().keys().map(String::as_str).collect();
    let want_keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // Same keys, and in file order.
    let mut sorted = keys.clone();
    sorted.sort();
    let mut want_sorted = want_keys.clone();
    want_sorted.sort();
    assert_eq!(sorted, want_sorted);
    assert_eq!(keys[0], "general.architecture");
    assert_eq!(keys.last(), Some(&"test.nested"));

    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(f.get("test.u8"), Some(&MetadataValue::U8(200)));
    assert_eq!(f.get("test.i8"), Some(&MetadataValue::I8(-100)));
    assert_eq!(f.get("test.u16"), Some(&MetadataValue::U16(60000)));
    assert_eq!(f.get("test.i16"), Some(&MetadataValue::I16(-30000)));
    assert_eq!(f.get_u32("test.u32").unwrap(), 4_000_000_000);
    assert_eq!(f.get_i32("test.i32").unwrap(), -2_000_000_000);
    assert_eq!(
        f.get_f32("test.f32").unwrap(),
        json["test.f32"].as_f64().unwrap() as f32
    );
    assert!(f.get_bool("test.bool").unwrap());
    assert_eq!(f.get_str("test.string").unwrap(), "héllo wörld ✓");
    assert_eq!(f.get_u64("test.u64").unwrap(), (1u64 << 63) + 5);
    assert_eq!(f.get_i64("test.i64").unwrap(), -(1i64 << 62));
    assert_eq!(f.get_f64("test.f64").unwrap(), std::f64::consts::E);
    assert_eq!(f.get_str_array("test.arr_str").unwrap(), ["a", "", "ü"]);
    assert_eq!(f.get_f32_array("test.arr_f32").unwrap(), [1.5, -2.25]);
    assert_eq!(f.get_i32_array("test.arr_i32").unwrap(), [1, -2, 3]);
    assert_eq!(f.get_u32_array("test.arr_u64").unwrap(), [7, 8]);
    let nested = f.get_array("test.nested").unwrap();
    assert_eq!(nested.elem_type(), ValueType::Array);
    assert_eq!(
        nested,
        &MetadataArray::Array(vec![
            MetadataArray::I32(vec![1, 2]),
            MetadataArray::I32(vec![3])
        ])
    );
    assert_eq!(
        nested.get(1),
        Some(MetadataValue::Array(MetadataArray::I32(vec![3])))
    );
    assert_eq!(
        f.tensor_f32("t").unwrap(),
        (0..32).map(|i| i as f32).collect::<Vec<_>>()
    );
}
