//! The llama decoder-only transformer (Llama 2/3, SmolLM, TinyLlama, …) in burn.
//!
//! Names follow the Hugging Face checkpoint (`embed_tokens`, `layers.N.self_attn.o_proj`,
//! `input_layernorm`, `mlp.down_proj`, `norm`, …), except for two fused projections: the
//! query, key and value projections are one `qkv_proj` (their output columns side by side),
//! the gate and up projections one `gate_up_proj`, so that each block runs two matrix
//! products fewer. Loaders concatenate the checkpoint's matrices.
//! Rotary embeddings use the Hugging Face "rotate half" layout; the GGUF loader undoes
//! llama.cpp's row permutation of the query and key rows to match.
//!
//! On the CPU backends the blocks run through the fused kernels of [`super::fused`]; other
//! backends (and autodiff) take the generic burn path below, which computes the same function.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor, TensorData};

use super::fused;

/// Hyper-parameters of a llama model (the fields of a Hugging Face `config.json`).
#[derive(Config, Debug, PartialEq)]
pub struct LlamaConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width `d`.
    pub hidden_size: usize,
    /// Width of the SwiGLU feed-forward layer.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention when smaller than the query heads).
    pub num_key_value_heads: usize,
    /// RoPE base frequency.
    #[config(default = 10000.0)]
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    #[config(default = 1e-5)]
    pub rms_norm_eps: f64,
    /// Longest sequence the rotary tables cover.
    #[config(default = 2048)]
    pub max_position_embeddings: usize,
    /// Whether the LM head shares the token-embedding matrix.
    #[config(default = true)]
    pub tie_word_embeddings: bool,
}

/// Longest context [`LlamaConfig::validate`] accepts (2²⁰ tokens): the rotary tables are
/// allocated for the whole context, so a file claiming more is refused instead of
/// exhausting memory.
pub const MAX_CONTEXT: usize = 1 << 20;

impl LlamaConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks that the numbers describe a buildable model.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        if let Some((name, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if self.max_position_embeddings > MAX_CONTEXT {
            return Err(format!(
                "context of {} tokens exceeds the supported {MAX_CONTEXT}",
                self.max_position_embeddings
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "head dim {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return Err(format!(
                "rms_norm_eps {} must be positive",
                self.rms_norm_eps
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return Err(format!("rope_theta {} must be positive", self.rope_theta));
        }
        Ok(())
    }

    /// A model with random weights (for tests and shape checks).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Llama<B> {
        let d = self.hidden_size;
        let hd = self.head_dim();
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).with_bias(false).init(device);
        let norm = || {
            RmsNormConfig::new(d)
                .with_epsilon(self.rms_norm_eps)
                .init(device)
        };
        let layers = (0..self.num_hidden_layers)
            .map(|_| LlamaDecoderLayer {
                self_attn: LlamaAttention {
                    qkv_proj: linear(
                        d,
                        (self.num_attention_heads + 2 * self.num_key_value_heads) * hd,
                    ),
                    o_proj: linear(self.num_attention_heads * hd, d),
                    num_heads: self.num_attention_heads,
                    num_kv_heads: self.num_key_value_heads,
                    head_dim: hd,
                },
                mlp: LlamaMlp {
                    gate_up_proj: linear(d, 2 * self.intermediate_size),
                    down_proj: linear(self.intermediate_size, d),
                    intermediate_size: self.intermediate_size,
                },
                input_layernorm: norm(),
                post_attention_layernorm: norm(),
            })
            .collect();
        Llama {
            embed_tokens: EmbeddingConfig::new(self.vocab_size, d).init(device),
            layers,
            norm: norm(),
            lm_head: (!self.tie_word_embeddings).then(|| linear(d, self.vocab_size)),
            rope: RotaryTables::new(hd, self.max_position_embeddings, self.rope_theta, device),
        }
    }
}

/// Precomputed `cos`/`sin` tables `[max_len, head_dim]` in the "rotate half" layout.
#[derive(Module, Debug)]
pub struct RotaryTables<B: Backend> {
    cos: Tensor<B, 2>,
    sin: Tensor<B, 2>,
}

impl<B: Backend> RotaryTables<B> {
    /// Tables for `max_len` positions, computed in f64 and stored as f32.
    pub fn new(head_dim: usize, max_len: usize, theta: f64, device: &B::Device) -> Self {
        let half = head_dim / 2;
        let mut cos = Vec::with_capacity(max_len * head_dim);
        let mut sin = Vec::with_capacity(max_len * head_dim);
        for pos in 0..max_len {
            let row: Vec<f64> = (0..half)
                .map(|i| pos as f64 * theta.powf(-((2 * i) as f64) / head_dim as f64))
                .collect();
            for _ in 0..2 {
                cos.extend(row.iter().map(|a| a.cos() as f32));
                sin.extend(row.iter().map(|a| a.sin() as f32));
            }
        }
        let make = |v: Vec<f32>| {
            Tensor::<B, 2>::from_data(
                burn::tensor::TensorData::new(v, [max_len, head_dim]),
                device,
            )
        };
        Self {
            cos: make(cos),
            sin: make(sin),
        }
    }

    /// The `cos` and `sin` tables of positions `0..seq`, `[seq, head_dim]` each.
    pub fn tables(&self, seq: usize) -> (Tensor<B, 2>, Tensor<B, 2>) {
        self.tables_from(0, seq)
    }

    /// The `cos` and `sin` tables of positions `start..start + seq`, `[seq, head_dim]` each.
    pub fn tables_from(&self, start: usize, seq: usize) -> (Tensor<B, 2>, Tensor<B, 2>) {
        (
            self.cos.clone().narrow(0, start, seq),
            self.sin.clone().narrow(0, start, seq),
        )
    }

    /// Rotates `x` `[batch, heads, seq, head_dim]` by the angles of positions `0..seq`.
    pub fn apply(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.apply_from(x, 0)
    }

    /// Rotates `x` `[batch, heads, seq, head_dim]` by the angles of positions
    /// `start..start + seq` (the new tokens of a cached continuation).
    pub fn apply_from(&self, x: Tensor<B, 4>, start: usize) -> Tensor<B, 4> {
        let [_, _, seq, hd] = x.dims();
        let (cos, sin) = self.tables_from(start, seq);
        let (cos, sin) = (cos.unsqueeze::<4>(), sin.unsqueeze::<4>());
        let half = hd / 2;
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos + rotated * sin
    }

    /// Longest sequence covered.
    pub fn max_len(&self) -> usize {
        self.cos.dims()[0]
    }
}

/// Multi-head self-attention with grouped key/value heads and RoPE.
#[derive(Module, Debug)]
pub struct LlamaAttention<B: Backend> {
    /// Query, key and value projections in one: output columns `[queries | keys | values]`,
    /// `(heads + 2 · kv_heads) · head_dim` wide.
    pub qkv_proj: Linear<B>,
    /// Output projection.
    pub o_proj: Linear<B>,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

impl<B: Backend> LlamaAttention<B> {
    /// Query heads.
    pub fn num_heads(&self) -> usize {
        self.num_heads
    }

    /// Key/value heads.
    pub fn num_kv_heads(&self) -> usize {
        self.num_kv_heads
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
    }

    fn heads(&self, x: Tensor<B, 3>, n: usize) -> Tensor<B, 4> {
        let [b, l, _] = x.dims();
        x.reshape([b, l, n, self.head_dim]).swap_dims(1, 2)
    }

    fn repeat_kv(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let groups = self.num_heads / self.num_kv_heads;
        if groups == 1 {
            return x;
        }
        let [b, kv, l, hd] = x.dims();
        x.unsqueeze_dim::<5>(2)
            .expand([b, kv, groups, l, hd])
            .reshape([b, kv * groups, l, hd])
    }

    /// Causal self-attention over `x` `[batch, seq, d]`.
    pub fn forward(&self, x: Tensor<B, 3>, rope: &RotaryTables<B>) -> Tensor<B, 3> {
        let [q, k, v] = self.rotated_qkv(x, rope, 0);
        let options = AttentionModuleOptions {
            is_causal: true,
            ..Default::default()
        };
        let out = attention(q, self.repeat_kv(k), self.repeat_kv(v), None, None, options);
        self.output(out)
    }

    /// Queries, keys and values of `x` `[batch, seq, d]` split into heads
    /// (`[batch, heads, seq, head_dim]`), queries and keys rotated for positions
    /// `start..start + seq`.
    fn rotated_qkv(
        &self,
        x: Tensor<B, 3>,
        rope: &RotaryTables<B>,
        start: usize,
    ) -> [Tensor<B, 4>; 3] {
        let (q_width, kv_width) = (
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
        );
        let qkv = self.qkv_proj.forward(x);
        let q = qkv.clone().narrow(2, 0, q_width);
        let k = qkv.clone().narrow(2, q_width, kv_width);
        let v = qkv.narrow(2, q_width + kv_width, kv_width);
        [
            rope.apply_from(self.heads(q, self.num_heads), start),
            rope.apply_from(self.heads(k, self.num_kv_heads), start),
            self.heads(v, self.num_kv_heads),
        ]
    }

    /// The heads' outputs `[batch, heads, seq, head_dim]` merged and projected to
    /// `[batch, seq, d]`.
    fn output(&self, out: Tensor<B, 4>) -> Tensor<B, 3> {
        let [b, _, l, _] = out.dims();
        let out = out
            .swap_dims(1, 2)
            .reshape([b, l, self.num_heads * self.head_dim]);
        self.o_proj.forward(out)
    }

    /// Causal self-attention of `n` new tokens `x` `[batch, n, d]` that follow the tokens
    /// whose rotated keys and values `cache` holds (`[batch, kv_heads, len, head_dim]`
    /// each; `None` for none): the new tokens sit at positions `len..len + n`. Returns the
    /// output and the cache extended by the new tokens.
    pub fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        rope: &RotaryTables<B>,
        cache: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
    ) -> (Tensor<B, 3>, (Tensor<B, 4>, Tensor<B, 4>)) {
        let [b, n, _] = x.dims();
        let past = cache.as_ref().map_or(0, |(k, _)| k.dims()[2]);
        let [q, k, v] = self.rotated_qkv(x, rope, past);
        let (k, v) = match cache {
            Some((ck, cv)) => (Tensor::cat(vec![ck, k], 2), Tensor::cat(vec![cv, v], 2)),
            None => (k, v),
        };
        let total = past + n;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut scores = q.matmul(self.repeat_kv(k.clone()).swap_dims(2, 3)) * scale;
        if n > 1 {
            // new token i (position past + i) sees the keys of positions 0..=past + i
            let hidden: Vec<bool> = (0..n)
                .flat_map(|i| (0..total).map(move |j| j > past + i))
                .collect();
            let mask = Tensor::<B, 2, Bool>::from_data(
                TensorData::new(hidden, [n, total]),
                &scores.device(),
            )
            .unsqueeze::<4>()
            .expand([b, self.num_heads, n, total]);
            scores = scores.mask_fill(mask, f32::NEG_INFINITY);
        }
        let out = softmax(scores, 3).matmul(self.repeat_kv(v.clone()));
        (self.output(out), (k, v))
    }
}

/// SwiGLU feed-forward block.
#[derive(Module, Debug)]
pub struct LlamaMlp<B: Backend> {
    /// Gate and up projections in one: output columns `[gate | up]`, each
    /// `intermediate_size` wide.
    pub gate_up_proj: Linear<B>,
    /// Down projection.
    pub down_proj: Linear<B>,
    intermediate_size: usize,
}

impl<B: Backend> LlamaMlp<B> {
    /// `down(silu(gate(x)) * up(x))`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let ff = self.intermediate_size;
        let gate_up = self.gate_up_proj.forward(x);
        let gate = silu(gate_up.clone().narrow(2, 0, ff));
        self.down_proj.forward(gate * gate_up.narrow(2, ff, ff))
    }
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct LlamaDecoderLayer<B: Backend> {
    /// Attention.
    pub self_attn: LlamaAttention<B>,
    /// Feed-forward.
    pub mlp: LlamaMlp<B>,
    /// Norm before attention.
    pub input_layernorm: RmsNorm<B>,
    /// Norm before the feed-forward block.
    pub post_attention_layernorm: RmsNorm<B>,
}

impl<B: Backend> LlamaDecoderLayer<B> {
    /// Residual stream in, residual stream out.
    pub fn forward(&self, x: Tensor<B, 3>, rope: &RotaryTables<B>) -> Tensor<B, 3> {
        let x = x.clone()
            + self
                .self_attn
                .forward(self.input_layernorm.forward(x), rope);
        x.clone() + self.mlp.forward(self.post_attention_layernorm.forward(x))
    }

    /// [`forward`](Self::forward) for new tokens after the cached ones (see
    /// [`LlamaAttention::forward_cached`]); returns the extended cache.
    pub fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        rope: &RotaryTables<B>,
        cache: Option<(Tensor<B, 4>, Tensor<B, 4>)>,
    ) -> (Tensor<B, 3>, (Tensor<B, 4>, Tensor<B, 4>)) {
        let (attended, cache) =
            self.self_attn
                .forward_cached(self.input_layernorm.forward(x.clone()), rope, cache);
        let x = x + attended;
        let out = x.clone() + self.mlp.forward(self.post_attention_layernorm.forward(x));
        (out, cache)
    }
}

/// The rotated keys and values of every block for the tokens read so far, `[batch,
/// kv_heads, len, head_dim]` each: what [`Llama::forward_cached`] needs to read one more
/// token without recomputing the prefix. Cheap to clone (tensors are shared).
#[derive(Debug, Clone)]
pub struct LlamaKvCache<B: Backend> {
    layers: Vec<(Tensor<B, 4>, Tensor<B, 4>)>,
}

impl<B: Backend> LlamaKvCache<B> {
    /// Tokens per row held.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.dims()[2])
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows (sequences) held.
    pub fn rows(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.dims()[0])
    }

    /// Keeps the rows `rows` (in this order; a row may repeat), as a search that forks or
    /// drops its hypotheses does. Panics (like any burn op) on an index out of range:
    /// callers check first.
    pub fn select(self, rows: Tensor<B, 1, Int>) -> Self {
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|(k, v)| (k.select(0, rows.clone()), v.select(0, rows.clone())))
                .collect(),
        }
    }
}

/// The llama model: token embeddings, blocks, final norm and (tied or separate) LM head.
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    /// Token-embedding table `[vocab, d]`.
    pub embed_tokens: Embedding<B>,
    /// Transformer blocks.
    pub layers: Vec<LlamaDecoderLayer<B>>,
    /// Final RMSNorm.
    pub norm: RmsNorm<B>,
    /// Separate LM head; `None` when tied to `embed_tokens`.
    pub lm_head: Option<Linear<B>>,
    /// RoPE tables.
    pub rope: RotaryTables<B>,
}

impl<B: Backend> Llama<B> {
    /// Residual stream after `layer` blocks (`0` = token embeddings), `[batch, seq, d]`.
    ///
    /// Sequences in a batch are right-padded; since attention is causal, the states of real
    /// tokens never see the padding, so no mask is needed. Panics (like any burn op) if `layer`
    /// exceeds the depth or `seq` exceeds the rotary tables: callers check first.
    pub fn hidden_states(&self, ids: Tensor<B, 2, Int>, layer: usize) -> Tensor<B, 3> {
        self.continue_from(self.embed_tokens.forward(ids), 0, layer)
    }

    /// Continues the residual stream from `from` blocks to `to` blocks.
    ///
    /// On the CPU backends this runs the fused kernels of the host path; elsewhere, burn's
    /// generic tensor operations.
    pub fn continue_from(&self, x: Tensor<B, 3>, from: usize, to: usize) -> Tensor<B, 3> {
        if from < to && fused::runs_on_host::<B>() {
            match fused::continue_on_host(self, x, from, to) {
                Ok(out) => out,
                Err(not_f32) => self.continue_generic(not_f32, from, to),
            }
        } else {
            self.continue_generic(x, from, to)
        }
    }

    /// [`continue_from`](Self::continue_from) through burn's generic tensor operations (any
    /// backend; differentiable).
    pub(crate) fn continue_generic(
        &self,
        mut x: Tensor<B, 3>,
        from: usize,
        to: usize,
    ) -> Tensor<B, 3> {
        for block in &self.layers[from..to] {
            x = block.forward(x, &self.rope);
        }
        x
    }

    /// The head's weight as `[d, vocab]` (the transposed embedding table when tied).
    pub fn head_weight(&self) -> Tensor<B, 2> {
        match &self.lm_head {
            Some(head) => head.weight.val(),
            None => self.embed_tokens.weight.val().transpose(),
        }
    }

    /// Logits `[batch, seq, vocab]` of the LM head on `x`, after the final norm if asked.
    pub fn head_logits(&self, x: Tensor<B, 3>, final_norm: bool) -> Tensor<B, 3> {
        let x = if final_norm { self.norm.forward(x) } else { x };
        x.matmul(self.head_weight().unsqueeze())
    }

    /// Next-token logits for every position, `[batch, seq, vocab]`.
    pub fn forward(&self, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let layers = self.layers.len();
        self.head_logits(self.hidden_states(ids, layers), true)
    }

    /// Next-token logits `[batch, n, vocab]` of `n` new tokens `ids` `[batch, n]` that
    /// follow the tokens held in `cache` (`None`: none), and the cache extended by them.
    /// One step of incremental decoding costs one token's blocks and head, not the whole
    /// prefix's; the result is [`forward`](Self::forward) of the whole sequence at the new
    /// positions, up to f32 rounding (generic burn path on every backend; on the CPU
    /// backends the backbone's [`LanguageModel::continuations`](cllm_core::LanguageModel::continuations)
    /// runs a faster one-token host step instead). Panics (like
    /// any burn op) if the sequence outgrows the rotary tables or the cache's batch differs
    /// from `ids`'s: callers check first.
    pub fn forward_cached(
        &self,
        ids: Tensor<B, 2, Int>,
        cache: Option<LlamaKvCache<B>>,
    ) -> (Tensor<B, 3>, LlamaKvCache<B>) {
        let mut x = self.embed_tokens.forward(ids);
        let mut past = cache.map(|c| c.layers.into_iter());
        let mut layers = Vec::with_capacity(self.layers.len());
        for block in &self.layers {
            let held = past.as_mut().and_then(Iterator::next);
            let (out, kv) = block.forward_cached(x, &self.rope, held);
            x = out;
            layers.push(kv);
        }
        (self.head_logits(x, true), LlamaKvCache { layers })
    }
}

/// Wraps a `[out, in]` row-major weight (PyTorch/GGUF order) as a bias-free [`Linear`],
/// transposing it once into burn's contiguous `[in, out]` layout so that no forward pass
/// has to copy a strided view.
pub(crate) fn linear_from_rows<B: Backend>(
    w: &[f32],
    out_features: usize,
    in_features: usize,
    device: &B::Device,
) -> Linear<B> {
    let mut t = vec![0.0f32; w.len()];
    for (o, row) in w.chunks_exact(in_features).enumerate() {
        for (i, v) in row.iter().enumerate() {
            t[i * out_features + o] = *v;
        }
    }
    let weight = Tensor::from_data(
        burn::tensor::TensorData::new(t, [in_features, out_features]),
        device,
    );
    Linear {
        weight: Param::from_tensor(weight),
        bias: None,
    }
}
