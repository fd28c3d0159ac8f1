//! Loads a llama model from a GGUF file onto a burn device.
//!
//! Tensor names map from llama.cpp's onto the module tree:
//!
//! | GGUF | module |
//! |---|---|
//! | `token_embd.weight` | `embed_tokens.weight` |
//! | `blk.N.attn_norm.weight` | `layers.N.input_layernorm.gamma` |
//! | `blk.N.attn_q.weight`, `attn_k`, `attn_v` | `layers.N.self_attn.qkv_proj`, concatenated (Q and K rows un-permuted, see below) |
//! | `blk.N.attn_output.weight` | `layers.N.self_attn.o_proj` |
//! | `blk.N.ffn_norm.weight` | `layers.N.post_attention_layernorm.gamma` |
//! | `blk.N.ffn_gate.weight`, `ffn_up` | `layers.N.mlp.gate_up_proj`, concatenated |
//! | `blk.N.ffn_down.weight` | `layers.N.mlp.down_proj` |
//! | `output_norm.weight` | `norm.gamma` |
//! | `output.weight` (absent when tied) | `lm_head` |
//!
//! llama.cpp's converter permutes the rows of the Q and K projections so that its RoPE
//! can rotate adjacent pairs `(2i, 2i+1)`; Hugging Face rotates `(i, i + d/2)`. Within each
//! head, GGUF row `2i + j` is Hugging Face row `j·d/2 + i`; [`unpermute_rows`] restores the
//! Hugging Face order, which [`RotaryTables`](super::model::RotaryTables) expects.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use cllm_gguf::GgufFile;

use super::model::{linear_from_rows, Llama, LlamaConfig};
use crate::backbone::optional;
use crate::weights::WeightSource;
use crate::BackboneError;

/// Reads the llama hyper-parameters from GGUF metadata (`general.architecture = llama`).
pub fn config_from_gguf(file: &GgufFile) -> Result<LlamaConfig, BackboneError> {
    let arch = file.get_str("general.architecture")?;
    if arch != "llama" {
        return Err(BackboneError::UnsupportedArchitecture(arch.to_string()));
    }
    let u = |key: &str| -> Result<usize, BackboneError> {
        let v = file.get_u64(&format!("llama.{key}"))?;
        usize::try_from(v).map_err(|_| BackboneError::InvalidConfig(format!("llama.{key} = {v}")))
    };
    let heads = u("attention.head_count")?;
    // optional keys: absent takes the default, a wrong type or value is an error
    let vocab = match optional(file.get_usize("llama.vocab_size"))? {
        Some(v) => v,
        None => *file
            .shape("token_embd.weight")?
            .first()
            .ok_or_else(|| BackboneError::InvalidConfig("token_embd.weight has no shape".into()))?,
    };
    let kv_heads = match optional(file.get_u64("llama.attention.head_count_kv"))? {
        Some(v) => usize::try_from(v).map_err(|_| {
            BackboneError::InvalidConfig(format!("llama.attention.head_count_kv = {v}"))
        })?,
        None => heads,
    };
    let config = LlamaConfig {
        vocab_size: vocab,
        hidden_size: u("embedding_length")?,
        intermediate_size: u("feed_forward_length")?,
        num_hidden_layers: u("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        rope_theta: optional(file.get_f32("llama.rope.freq_base"))?
            .map(f64::from)
            .unwrap_or(10000.0),
        rms_norm_eps: f64::from(file.get_f32("llama.attention.layer_norm_rms_epsilon")?),
        max_position_embeddings: u("context_length")?,
        tie_word_embeddings: file.tensor_info("output.weight").is_err(),
    };
    config.validate().map_err(BackboneError::InvalidConfig)?;
    Ok(config)
}

/// Restores Hugging Face row order of a Q or K projection `[heads·head_dim, in]` stored by
/// llama.cpp (see the module docs).
///
/// ```
/// use cllm_backbone::llama::loader::unpermute_rows;
/// // One head of dim 4, one input column: GGUF rows are [h0, h2, h1, h3].
/// let gguf = vec![0.0, 2.0, 1.0, 3.0];
/// assert_eq!(unpermute_rows(&gguf, 1, 4, 1), vec![0.0, 1.0, 2.0, 3.0]);
/// ```
pub fn unpermute_rows(w: &[f32], heads: usize, head_dim: usize, cols: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = vec![0.0; w.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = (h * head_dim + 2 * i + j) * cols;
                let dst = (h * head_dim + j * half + i) * cols;
                out[dst..dst + cols].copy_from_slice(&w[src..src + cols]);
            }
        }
    }
    out
}

struct TensorReader<'a, B: Backend> {
    file: &'a GgufFile,
    device: &'a B::Device,
}

impl<B: Backend> WeightSource<B> for TensorReader<'_, B> {
    fn device(&self) -> &B::Device {
        self.device
    }

    /// Dequantised values of `name`, checked against the expected row-major shape.
    fn raw_values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, BackboneError> {
        let got = self
            .file
            .shape(name)
            .map_err(|_| BackboneError::MissingTensor(name.into()))?;
        if got != expected {
            return Err(BackboneError::TensorShape {
                name: name.into(),
                expected: expected.to_vec(),
                got,
            });
        }
        Ok(self.file.tensor_f32(name)?)
    }
}

impl<B: Backend> TensorReader<'_, B> {
    fn linear(&self, name: &str, rows: usize, cols: usize) -> Result<Linear<B>, BackboneError> {
        Ok(linear_from_rows(
            &self.values(name, &[rows, cols])?,
            rows,
            cols,
            self.device,
        ))
    }

    /// The rows of a Q or K projection in Hugging Face order.
    fn qk_rows(
        &self,
        name: &str,
        heads: usize,
        head_dim: usize,
        cols: usize,
    ) -> Result<Vec<f32>, BackboneError> {
        let rows = heads * head_dim;
        Ok(unpermute_rows(
            &self.values(name, &[rows, cols])?,
            heads,
            head_dim,
            cols,
        ))
    }

    /// One projection whose output rows are those of `parts` (row-major `[rows, cols]`
    /// each) one after the other.
    fn stacked(&self, parts: Vec<Vec<f32>>, cols: usize) -> Linear<B> {
        let rows = parts.iter().map(|p| p.len() / cols).sum();
        linear_from_rows(&parts.concat(), rows, cols, self.device)
    }
}

/// Every tensor [`load_llama`] reads, with its row-major shape.
fn expected_shapes(c: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let (d, ff, hd) = (c.hidden_size, c.intermediate_size, c.head_dim());
    let (nh, nkv) = (c.num_attention_heads, c.num_key_value_heads);
    let mut v = vec![
        ("token_embd.weight".to_string(), vec![c.vocab_size, d]),
        ("output_norm.weight".to_string(), vec![d]),
    ];
    for n in 0..c.num_hidden_layers {
        for (t, shape) in [
            ("attn_q", vec![nh * hd, d]),
            ("attn_k", vec![nkv * hd, d]),
            ("attn_v", vec![nkv * hd, d]),
            ("attn_output", vec![d, nh * hd]),
            ("ffn_gate", vec![ff, d]),
            ("ffn_up", vec![ff, d]),
            ("ffn_down", vec![d, ff]),
            ("attn_norm", vec![d]),
            ("ffn_norm", vec![d]),
        ] {
            v.push((format!("blk.{n}.{t}.weight"), shape));
        }
    }
    if !c.tie_word_embeddings {
        v.push(("output.weight".to_string(), vec![c.vocab_size, d]));
    }
    v
}

/// Builds the model of `config` with the weights of `file` (dequantised to f32).
pub fn load_llama<B: Backend>(
    file: &GgufFile,
    config: &LlamaConfig,
    device: &B::Device,
) -> Result<Llama<B>, BackboneError> {
    config.validate().map_err(BackboneError::InvalidConfig)?;
    let r = TensorReader::<B> { file, device };
    let (d, ff, hd) = (
        config.hidden_size,
        config.intermediate_size,
        config.head_dim(),
    );
    let (nh, nkv) = (config.num_attention_heads, config.num_key_value_heads);
    // every shape is checked before `init` allocates the model, so that metadata claiming a
    // huge model is refused instead of exhausting memory
    for (name, shape) in expected_shapes(config) {
        let got = file
            .shape(&name)
            .map_err(|_| BackboneError::MissingTensor(name.clone()))?;
        if got != shape {
            return Err(BackboneError::TensorShape {
                name,
                expected: shape,
                got,
            });
        }
    }
    let mut model = config.init::<B>(device);
    model.embed_tokens.weight =
        Param::from_tensor(r.matrix("token_embd.weight", config.vocab_size, d)?);
    for (n, layer) in model.layers.iter_mut().enumerate() {
        let name = |t: &str| format!("blk.{n}.{t}.weight");
        let attn = &mut layer.self_attn;
        attn.qkv_proj = r.stacked(
            vec![
                r.qk_rows(&name("attn_q"), nh, hd, d)?,
                r.qk_rows(&name("attn_k"), nkv, hd, d)?,
                r.values(&name("attn_v"), &[nkv * hd, d])?,
            ],
            d,
        );
        attn.o_proj = r.linear(&name("attn_output"), d, nh * hd)?;
        layer.mlp.gate_up_proj = r.stacked(
            vec![
                r.values(&name("ffn_gate"), &[ff, d])?,
                r.values(&name("ffn_up"), &[ff, d])?,
            ],
            d,
        );
        layer.mlp.down_proj = r.linear(&name("ffn_down"), d, ff)?;
        layer.input_layernorm.gamma = r.vector(&name("attn_norm"), d)?;
        layer.post_attention_layernorm.gamma = r.vector(&name("ffn_norm"), d)?;
    }
    model.norm.gamma = r.vector("output_norm.weight", d)?;
    if !config.tie_word_embeddings {
        model.lm_head = Some(r.linear("output.weight", config.vocab_size, d)?);
    }
    Ok(model)
}
