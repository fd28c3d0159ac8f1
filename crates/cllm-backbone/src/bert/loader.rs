//! Loads a BERT encoder from a Hugging Face `config.json` and `model.safetensors`.
//!
//! Checkpoint names map onto the module tree one to one, except where Rust needs a
//! different identifier (`N` = block index; a `bert.` prefix, as written by
//! `BertFor…` checkpoints, is accepted too):
//!
//! | safetensors | module |
//! |---|---|
//! | `embeddings.word_embeddings.weight` | `embeddings.word_embeddings.weight` |
//! | `embeddings.position_embeddings.weight` | `embeddings.position_embeddings.weight` |
//! | `embeddings.token_type_embeddings.weight` | `embeddings.token_type_embeddings.weight` |
//! | `embeddings.LayerNorm.{weight,bias}` | `embeddings.layer_norm.{gamma,beta}` |
//! | `encoder.layer.N.attention.self.{query,key,value}.{weight,bias}` | `encoder.layer.N.attention.self_attention.{query,key,value}` |
//! | `encoder.layer.N.attention.output.dense.{weight,bias}` | `encoder.layer.N.attention.output.dense` |
//! | `encoder.layer.N.attention.output.LayerNorm.{weight,bias}` | `encoder.layer.N.attention.output.layer_norm` |
//! | `encoder.layer.N.intermediate.dense.{weight,bias}` | `encoder.layer.N.intermediate.dense` |
//! | `encoder.layer.N.output.dense.{weight,bias}` | `encoder.layer.N.output.dense` |
//! | `encoder.layer.N.output.LayerNorm.{weight,bias}` | `encoder.layer.N.output.layer_norm` |
//!
//! Linear weights are stored `[out, in]` (PyTorch) and transposed once into burn's
//! `[in, out]`. Other tensors of the file (`pooler.*`, `embeddings.position_ids`) are ignored.
//! Every tensor read is checked for presence, shape, dtype (F32, F16 or BF16) and finite
//! values; a malformed file gives a [`BackboneError`], never a panic.

use std::path::Path;

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::backend::Backend;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use super::model::{BertConfig, BertModel};
use crate::llama::model::linear_from_rows;
use crate::weights::WeightSource;
use crate::BackboneError;

/// Largest `config.json` accepted (real ones are under 1 KB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a file, mapping a missing file to [`BackboneError::MissingFile`].
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, BackboneError> {
    std::fs::read(path).map_err(|source| BackboneError::io(path, source))
}

/// Parses and validates a Hugging Face BERT `config.json`.
///
/// Requires `hidden_size`, `num_hidden_layers`, `num_attention_heads`, `intermediate_size`
/// and `vocab_size`; `max_position_embeddings` (512), `type_vocab_size` (2),
/// `layer_norm_eps` (1e-12) and `pad_token_id` (0) default as in transformers. Rejects
/// any activation but the exact `"gelu"` and any position embedding but `"absolute"`.
///
/// ```
/// use cllm_backbone::bert::config_from_json;
/// let c = config_from_json(r#"{"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 6,
///     "num_attention_heads": 12, "intermediate_size": 1536, "vocab_size": 30522,
///     "hidden_act": "gelu", "layer_norm_eps": 1e-12}"#)?;
/// assert_eq!((c.hidden_size, c.num_hidden_layers, c.max_position_embeddings), (384, 6, 512));
/// assert!(config_from_json(r#"{"hidden_size": 384}"#).is_err());
/// # Ok::<(), cllm_backbone::BackboneError>(())
/// ```
pub fn config_from_json(text: &str) -> Result<BertConfig, BackboneError> {
    let bad = |msg: String| BackboneError::InvalidConfig(msg);
    let v: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("config.json is not JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("config.json is not a JSON object".into()))?;
    if let Some(t) = obj.get("model_type") {
        if t.as_str() != Some("bert") {
            return Err(bad(format!("model_type {t} is not \"bert\"")));
        }
    }
    if let Some(act) = obj.get("hidden_act") {
        if act.as_str() != Some("gelu") {
            return Err(bad(format!(
                "hidden_act {act} is not supported (only the exact erf \"gelu\")"
            )));
        }
    }
    if let Some(p) = obj.get("position_embedding_type") {
        if p.as_str() != Some("absolute") {
            return Err(bad(format!(
                "position_embedding_type {p} is not supported (only \"absolute\")"
            )));
        }
    }
    let size = |key: &str, default: Option<usize>| -> Result<usize, BackboneError> {
        match obj.get(key) {
            None | Some(Value::Null) => {
                default.ok_or_else(|| bad(format!("config.json lacks {key:?}")))
            }
            Some(x) => x
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| bad(format!("{key} = {x} is not a non-negative integer"))),
        }
    };
    let eps = match obj.get("layer_norm_eps") {
        None | Some(Value::Null) => 1e-12,
        Some(x) => x
            .as_f64()
            .ok_or_else(|| bad(format!("layer_norm_eps = {x} is not a number")))?,
    };
    let pad = size("pad_token_id", Some(0))?;
    let config = BertConfig {
        vocab_size: size("vocab_size", None)?,
        hidden_size: size("hidden_size", None)?,
        num_hidden_layers: size("num_hidden_layers", None)?,
        num_attention_heads: size("num_attention_heads", None)?,
        intermediate_size: size("intermediate_size", None)?,
        max_position_embeddings: size("max_position_embeddings", Some(512))?,
        type_vocab_size: size("type_vocab_size", Some(2))?,
        layer_norm_eps: eps,
        pad_token_id: u32::try_from(pad).map_err(|_| bad(format!("pad_token_id {pad}")))?,
    };
    config.validate().map_err(bad)?;
    Ok(config)
}

/// Reads and parses `config.json` at `path` (see [`config_from_json`]).
pub fn config_from_file(path: &Path) -> Result<BertConfig, BackboneError> {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(BackboneError::InvalidConfig(format!(
                "{} is {} bytes, more than a config file",
                path.display(),
                meta.len()
            )));
        }
    }
    let bytes = read_file(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        BackboneError::InvalidConfig(format!("{} is not UTF-8: {e}", path.display()))
    })?;
    config_from_json(text)
}

/// Checked access to the tensors of one safetensors file.
struct TensorReader<'a, B: Backend> {
    file: &'a SafeTensors<'a>,
    prefix: &'static str,
    device: &'a B::Device,
}

impl<B: Backend> WeightSource<B> for TensorReader<'_, B> {
    fn device(&self) -> &B::Device {
        self.device
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Values of `name` as f32, checked against the expected row-major shape.
    fn raw_values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, BackboneError> {
        let full = format!("{}{name}", self.prefix);
        let view = self
            .file
            .tensor(&full)
            .map_err(|_| BackboneError::MissingTensor(full.clone()))?;
        if view.shape() != expected {
            return Err(BackboneError::TensorShape {
                name: full,
                expected: expected.to_vec(),
                got: view.shape().to_vec(),
            });
        }
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => {
                return Err(BackboneError::UnsupportedDtype {
                    name: full,
                    dtype: format!("{other:?}"),
                })
            }
        };
        // safetensors checks data length against shape × dtype size; check again anyway.
        if values.len() != expected.iter().product::<usize>() {
            return Err(BackboneError::Safetensors(format!(
                "tensor {full:?} holds {} values, its shape {expected:?} needs {}",
                values.len(),
                expected.iter().product::<usize>()
            )));
        }
        Ok(values)
    }
}

impl<B: Backend> TensorReader<'_, B> {
    /// `name.weight` `[out, in]` and `name.bias` `[out]` as a [`Linear`].
    fn linear(&self, name: &str, out: usize, inp: usize) -> Result<Linear<B>, BackboneError> {
        let weight = self.values(&format!("{name}.weight"), &[out, inp])?;
        let mut linear = linear_from_rows(&weight, out, inp, self.device);
        linear.bias = Some(self.vector(&format!("{name}.bias"), out)?);
        Ok(linear)
    }

    /// `name.weight` / `name.bias` into an existing [`LayerNorm`] (keeps its epsilon).
    fn layer_norm(
        &self,
        name: &str,
        d: usize,
        norm: &mut LayerNorm<B>,
    ) -> Result<(), BackboneError> {
        norm.gamma = self.vector(&format!("{name}.weight"), d)?;
        norm.beta = Some(self.vector(&format!("{name}.bias"), d)?);
        Ok(())
    }
}

/// Every tensor [`load_bert`] reads, with its shape.
fn expected_shapes(c: &BertConfig) -> Vec<(String, Vec<usize>)> {
    let (d, ff) = (c.hidden_size, c.intermediate_size);
    let mut v = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![c.vocab_size, d],
        ),
        (
            "embeddings.position_embeddings.weight".to_string(),
            vec![c.max_position_embeddings, d],
        ),
        (
            "embeddings.token_type_embeddings.weight".to_string(),
            vec![c.type_vocab_size, d],
        ),
        ("embeddings.LayerNorm.weight".to_string(), vec![d]),
    ];
    for n in 0..c.num_hidden_layers {
        let name = |t: &str| format!("encoder.layer.{n}.{t}");
        for (t, shape) in [
            ("attention.self.query.weight", vec![d, d]),
            ("attention.self.key.weight", vec![d, d]),
            ("attention.self.value.weight", vec![d, d]),
            ("attention.output.dense.weight", vec![d, d]),
            ("intermediate.dense.weight", vec![ff, d]),
            ("output.dense.weight", vec![d, ff]),
        ] {
            v.push((name(t), shape));
        }
    }
    v
}

/// Builds the model of `config` with the weights of a parsed safetensors file.
pub fn load_bert<B: Backend>(
    file: &SafeTensors<'_>,
    config: &BertConfig,
    device: &B::Device,
) -> Result<BertModel<B>, BackboneError> {
    config.validate().map_err(BackboneError::InvalidConfig)?;
    let probe = "embeddings.word_embeddings.weight";
    let prefix = if file.tensor(probe).is_err() && file.tensor(&format!("bert.{probe}")).is_ok() {
        "bert."
    } else {
        ""
    };
    let r = TensorReader::<B> {
        file,
        prefix,
        device,
    };
    let (d, ff) = (config.hidden_size, config.intermediate_size);
    // every shape is checked before `init` allocates the model, so that a config.json
    // claiming a huge model is refused instead of exhausting memory
    for (name, shape) in expected_shapes(config) {
        let full = format!("{prefix}{name}");
        let view = file
            .tensor(&full)
            .map_err(|_| BackboneError::MissingTensor(full.clone()))?;
        if view.shape() != shape.as_slice() {
            return Err(BackboneError::TensorShape {
                name: full,
                expected: shape,
                got: view.shape().to_vec(),
            });
        }
    }
    let mut model = config.init::<B>(device);
    let emb = &mut model.embeddings;
    emb.word_embeddings.weight =
        Param::from_tensor(r.matrix("embeddings.word_embeddings.weight", config.vocab_size, d)?);
    emb.position_embeddings.weight = Param::from_tensor(r.matrix(
        "embeddings.position_embeddings.weight",
        config.max_position_embeddings,
        d,
    )?);
    emb.token_type_embeddings.weight = Param::from_tensor(r.matrix(
        "embeddings.token_type_embeddings.weight",
        config.type_vocab_size,
        d,
    )?);
    r.layer_norm("embeddings.LayerNorm", d, &mut emb.layer_norm)?;
    for (n, layer) in model.encoder.layer.iter_mut().enumerate() {
        let name = |t: &str| format!("encoder.layer.{n}.{t}");
        let sa = &mut layer.attention.self_attention;
        sa.query = r.linear(&name("attention.self.query"), d, d)?;
        sa.key = r.linear(&name("attention.self.key"), d, d)?;
        sa.value = r.linear(&name("attention.self.value"), d, d)?;
        let out = &mut layer.attention.output;
        out.dense = r.linear(&name("attention.output.dense"), d, d)?;
        r.layer_norm(&name("attention.output.LayerNorm"), d, &mut out.layer_norm)?;
        layer.intermediate.dense = r.linear(&name("intermediate.dense"), ff, d)?;
        layer.output.dense = r.linear(&name("output.dense"), d, ff)?;
        r.layer_norm(&name("output.LayerNorm"), d, &mut layer.output.layer_norm)?;
    }
    Ok(model)
}

/// Reads `model.safetensors` at `path` and loads it with [`load_bert`].
pub fn load_bert_file<B: Backend>(
    path: &Path,
    config: &BertConfig,
    device: &B::Device,
) -> Result<BertModel<B>, BackboneError> {
    let bytes = read_file(path)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| BackboneError::Safetensors(format!("{}: {e}", path.display())))?;
    load_bert(&file, config, device)
}
