//! Writer → reader round trips.

use cllm_gguf::{
    dequantize, quantize, GgmlType, GgufFile, GgufWriter, MetadataArray, MetadataValue,
};

/// Deterministic pseudo-random data (xorshift), roughly N(0, scale).
fn data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            let mut acc = 0f32;
            for _ in 0..4 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                acc += (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            }
            acc * scale
        })
        .collect()
}

#[test]
fn every_metadata_type_round_trips() {
    let values: Vec<(&str, MetadataValue)> = vec![
        ("u8", 1u8.into()),
        ("i8", (-2i8).into()),
        ("u16", 3u16.into()),
        ("i16", (-4i16).into()),
        ("u32", 5u32.into()),
        ("i32", (-6i32).into()),
        ("f32", 7.5f32.into()),
        ("bool", true.into()),
        ("string", "ßtring".into()),
        ("u64", u64::MAX.into()),
        ("i64", i64::MIN.into()),
        ("f64", 1e300f64.into()),
        ("arr.str", MetadataArray::strings(["x", "yy"]).into()),
        ("arr.u8", MetadataArray::U8(vec![0, 255]).into()),
        ("arr.i8", MetadataArray::I8(vec![-128, 127]).into()),
        ("arr.u16", MetadataArray::U16(vec![65535]).into()),
        ("arr.i16", MetadataArray::I16(vec![-32768]).into()),
        ("arr.i64", MetadataArray::I64(vec![i64::MIN]).into()),
        ("arr.u64", MetadataArray::U64(vec![u64::MAX]).into()),
        ("arr.f64", MetadataArray::F64(vec![-0.0, f64::MAX]).into()),
        (
            "arr.f32",
            MetadataArray::f32s([1.0, f32::MIN_POSITIVE]).into(),
        ),
        ("arr.i32", MetadataArray::i32s([i32::MIN]).into()),
        ("arr.empty", MetadataArray::F64(vec![]).into()),
        (
            "arr.nested",
            MetadataArray::Array(vec![
                MetadataArray::u32s([1, 2]),
                MetadataArray::strings(["z"]),
                MetadataArray::Array(vec![MetadataArray::Bool(vec![true, false])]),
            ])
            .into(),
        ),
    ];
    let mut w = GgufWriter::new();
    for (k, v) in &values {
        w.add_metadata(k, v.clone()).unwrap();
    }
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    let got: Vec<(&str, MetadataValue)> = f
        .metadata()
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    assert_eq!(got, values);
    assert_eq!(f.tensors().len(), 0);
}

#[test]
fn tensors_of_every_writable_type_round_trip() {
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
    ];
    let shapes: [&[usize]; 4] = [&[64], &[3, 64], &[2, 3, 32], &[2, 1, 2, 32]];
    let mut w = GgufWriter::new();
    let mut expected = Vec::new();
    for (i, ty) in types.iter().enumerate() {
        for (j, shape) in shapes.iter().enumerate() {
            let n: usize = shape.iter().product();
            let x = data(n, (i * 10 + j) as u64, 1.0);
            let name = format!("{ty}.{j}");
            w.add_tensor_f32(&name, shape, &x, *ty).unwrap();
            expected.push((name, shape.to_vec(), *ty, x));
        }
    }
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.tensors().len(), expected.len());
    for (name, shape, ty, x) in expected {
        let t = f.tensor_info(&name).unwrap();
        assert_eq!(t.shape(), shape);
        assert_eq!(
            t.dims,
            shape.iter().rev().map(|&d| d as u64).collect::<Vec<_>>()
        );
        assert_eq!(t.ggml_type, ty);
        assert_eq!(t.offset % 32, 0);
        let y = f.tensor_f32(&name).unwrap();
        // Exactly what quantise → dequantise gives...
        let mut q = Vec::new();
        quantize(ty, &x, &mut q).unwrap();
        assert_eq!(f.tensor_bytes(&name).unwrap(), &q[..]);
        let mut z = vec![0f32; x.len()];
        dequantize(ty, &q, &mut z).unwrap();
        assert_eq!(y, z);
        // ... and close to the input.
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let tol = match ty {
            GgmlType::F32 => 0.0,
            GgmlType::F16 => 1e-3 * amax,
            GgmlType::BF16 => 8e-3 * amax,
            GgmlType::Q8_0 => amax / 127.0,
            _ => amax / 4.0,
        };
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= tol, "{name}: {a} vs {b} (tol {tol})");
        }
    }
}

#[test]
fn raw_k_quant_bytes_round_trip() {
    let bytes: Vec<u8> = (0..2 * 210).map(|i| (i * 7 % 251) as u8).collect();
    let mut w = GgufWriter::new();
    w.add_tensor_bytes("k", &[2, 256], GgmlType::Q6_K, bytes.clone())
        .unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.tensor_bytes("k").unwrap(), &bytes[..]);
    assert_eq!(f.tensor_f32("k").unwrap().len(), 512);
}

#[test]
fn version_2_and_custom_alignment() {
    let mut w = GgufWriter::new();
    w.set_version(2).unwrap();
    w.add_metadata("general.alignment", 128u32).unwrap();
    w.add_tensor_f32("a", &[3], &[1.0, 2.0, 3.0], GgmlType::F32)
        .unwrap();
    w.add_tensor_f32("b", &[2], &[4.0, 5.0], GgmlType::F16)
        .unwrap();
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(f.version(), 2);
    assert_eq!(f.alignment(), 128);
    assert_eq!(f.data_offset() % 128, 0);
    assert_eq!(f.tensor_info("b").unwrap().offset, 128);
    assert_eq!(f.tensor_f32("a").unwrap(), [1.0, 2.0, 3.0]);
    assert_eq!(f.tensor_f32("b").unwrap(), [4.0, 5.0]);
}

#[test]
fn atomic_write_to_path_and_mmap_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    std::fs::write(&path, b"old contents").unwrap();
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "llama").unwrap();
    let x = data(4 * 64, 1, 0.1);
    w.add_tensor_f32("w", &[4, 64], &x, GgmlType::Q8_0).unwrap();
    w.write_to_path(&path).unwrap();
    // Replaced, and no temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("m.gguf")]);
    let f = GgufFile::open(&path).unwrap();
    assert_eq!(f.as_bytes(), &w.to_bytes().unwrap()[..]);
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(f.tensor_f32("w").unwrap().len(), 256);
    // Writing into a missing directory is an I/O error naming the path.
    let e = w
        .write_to_path(dir.path().join("no/such/dir.gguf"))
        .unwrap_err();
    assert!(e.to_string().contains("dir.gguf"), "{e}");
}

#[test]
fn large_tensor_parallel_dequant_equals_serial() {
    // Larger than one parallel chunk: checks chunk boundaries.
    let n = 3 * (1 << 15) + 32 * 7;
    let x = data(n, 9, 1.0);
    for ty in [GgmlType::Q4_1, GgmlType::Q8_0, GgmlType::F16] {
        let mut q = Vec::new();
        quantize(ty, &x, &mut q).unwrap();
        let mut all = vec![0f32; n];
        dequantize(ty, &q, &mut all).unwrap();
        let bs = ty.block_size();
        let ts = ty.type_size();
        let mut piecewise = Vec::new();
        for (qc, n_blocks) in q.chunks(ts * 5).map(|c| (c, c.len() / ts)) {
            let mut y = vec![0f32; n_blocks * bs];
            dequantize(ty, qc, &mut y).unwrap();
            piecewise.extend(y);
        }
        assert_eq!(all, piecewise, "{ty}");
    }
}

#[test]
fn q8_k_dequantises() {
    // block_q8_K: f32 d, 256 x i8, 16 x i16 bsums.
    let mut b = Vec::new();
    b.extend_from_slice(&0.25f32.to_le_bytes());
    b.extend((0..256).map(|i| (i - 128) as i8 as u8));
    b.extend(std::iter::repeat_n(0u8, 32));
    let mut y = vec![0f32; 256];
    dequantize(GgmlType::Q8_K, &b, &mut y).unwrap();
    assert_eq!(y[0], -32.0);
    assert_eq!(y[255], 127.0 * 0.25);
    let mut y = vec![0f32; 255];
    assert!(dequantize(GgmlType::Q8_K, &b, &mut y).is_err());
}

#[test]
fn plain_integer_and_f64_types_dequantise() {
    let mut y = vec![0f32; 2];
    dequantize(GgmlType::I8, &[0xff, 7], &mut y).unwrap();
    assert_eq!(y, [-1.0, 7.0]);
    let mut b = Vec::new();
    b.extend_from_slice(&(-3i32).to_le_bytes());
    b.extend_from_slice(&(9i32).to_le_bytes());
    dequantize(GgmlType::I32, &b, &mut y).unwrap();
    assert_eq!(y, [-3.0, 9.0]);
    let mut b = Vec::new();
    b.extend_from_slice(&0.5f64.to_le_bytes());
    b.extend_from_slice(&(-2.0f64).to_le_bytes());
    dequantize(GgmlType::F64, &b, &mut y).unwrap();
    assert_eq!(y, [0.5, -2.0]);
}

#[test]
fn file_and_writer_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GgufFile>();
    assert_send_sync::<GgufWriter>();
    assert_send_sync::<cllm_gguf::GgufError>();
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Reference quantisers stay within their step size of the input.
        #[test]
        fn quantisation_error_is_bounded(x in prop::collection::vec(-100f32..100f32, 32..=32), scale in prop_oneof![Just(1e-3f32), Just(1.0f32), Just(50.0f32)]) {
            let x: Vec<f32> = x.iter().map(|v| v * scale).collect();
            let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
            let (lo, hi) = x.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            for (ty, step) in [(GgmlType::Q8_0, amax / 127.0), (GgmlType::Q4_0, amax / 8.0), (GgmlType::Q4_1, (hi - lo) / 15.0)] {
                let mut q = Vec::new();
                quantize(ty, &x, &mut q).unwrap();
                let mut y = vec![0f32; 32];
                dequantize(ty, &q, &mut y).unwrap();
                for (a, b) in x.iter().zip(&y) {
                    // Half a step from rounding, plus f16 rounding of scale and minimum.
                    let tol = step * 0.5 + amax * 4e-3 + 1e-6;
                    let tol = if ty == GgmlType::Q4_0 { tol + step * 0.5 } else { tol };
                    prop_assert!((a - b).abs() <= tol, "{ty}: {a} vs {b}, tol {tol}");
                }
            }
        }
    }
}
