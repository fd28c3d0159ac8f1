//! The BERT encoder (post-norm transformer with absolute position embeddings) in burn.
//!
//! Names follow the Hugging Face checkpoint (`embeddings.word_embeddings`,
//! `encoder.layer.N.attention.self.query`, `attention.output.LayerNorm`,
//! `intermediate.dense`, `output.dense`, …) so that the loader is a plain key map; the only
//! renamings are the ones Rust forces: `self` → `self_attention`, `LayerNorm` →
//! `layer_norm` (see [`loader`](super::loader) for the table).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::gelu;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor};

/// Hyper-parameters of a BERT encoder (the fields of a Hugging Face `config.json`).
///
/// ```
/// use cllm_backbone::bert::BertConfig;
/// // all-MiniLM-L6-v2
/// let config = BertConfig::new(30522, 384, 6, 12, 1536);
/// assert_eq!(config.head_dim(), 32);
/// assert_eq!(config.layer_norm_eps, 1e-12);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Config, Debug, PartialEq)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width `d`.
    pub hidden_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Number of attention heads.
    pub num_attention_heads: usize,
    /// Width of the GELU feed-forward layer.
    pub intermediate_size: usize,
    /// Number of learned absolute positions (the longest input).
    #[config(default = 512)]
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    #[config(default = 2)]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[config(default = 0)]
    pub pad_token_id: u32,
}

impl BertConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads.max(1)
    }

    /// Checks that the numbers describe a buildable model.
    pub fn validate(&self) -> Result<(), String> {
        let nonzero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = nonzero.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(format!(
                "layer_norm_eps {} must be positive",
                self.layer_norm_eps
            ));
        }
        if self.pad_token_id as usize >= self.vocab_size {
            return Err(format!(
                "pad_token_id {} is outside the vocabulary of {}",
                self.pad_token_id, self.vocab_size
            ));
        }
        Ok(())
    }

    /// A model with random weights (for tests and shape checks).
    pub fn init<B: Backend>(&self, device: &B::Device) -> BertModel<B> {
        let d = self.hidden_size;
        let linear = |i: usize, o: usize| LinearConfig::new(i, o).init(device);
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let layer = (0..self.num_hidden_layers)
            .map(|_| BertLayer {
                attention: BertAttention {
                    self_attention: BertSelfAttention {
                        query: linear(d, d),
                        key: linear(d, d),
                        value: linear(d, d),
                        num_heads: self.num_attention_heads,
                        head_dim: self.head_dim(),
                    },
                    output: BertSelfOutput {
                        dense: linear(d, d),
                        layer_norm: norm(),
                    },
                },
                intermediate: BertIntermediate {
                    dense: linear(d, self.intermediate_size),
                },
                output: BertOutput {
                    dense: linear(self.intermediate_size, d),
                    layer_norm: norm(),
                },
            })
            .collect();
        BertModel {
            embeddings: BertEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, d).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_position_embeddings, d)
                    .init(device),
                token_type_embeddings: EmbeddingConfig::new(self.type_vocab_size, d).init(device),
                layer_norm: norm(),
            },
            encoder: BertEncoder { layer },
        }
    }
}

/// Word + absolute position + token-type embeddings, then LayerNorm.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    /// Token table `[vocab, d]`.
    pub word_embeddings: Embedding<B>,
    /// Position table `[max_position_embeddings, d]`.
    pub position_embeddings: Embedding<B>,
    /// Segment table `[type_vocab_size, d]`.
    pub token_type_embeddings: Embedding<B>,
    /// Checkpoint name `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
}

impl<B: Backend> BertEmbeddings<B> {
    /// Embeds `ids` `[batch, seq]` at positions `0..seq`; `token_type_ids` defaults to all 0.
    ///
    /// Panics (like any burn op) if `seq` exceeds the position table: callers check first.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        token_type_ids: Option<Tensor<B, 2, Int>>,
    ) -> Tensor<B, 3> {
        let [_, seq] = ids.dims();
        let words = self.word_embeddings.forward(ids);
        let positions = self
            .position_embeddings
            .weight
            .val()
            .narrow(0, 0, seq)
            .unsqueeze::<3>();
        let types = match token_type_ids {
            Some(t) => self.token_type_embeddings.forward(t),
            None => self
                .token_type_embeddings
                .weight
                .val()
                .narrow(0, 0, 1)
                .unsqueeze::<3>(),
        };
        // Same summation order as transformers: (words + types) + positions.
        self.layer_norm.forward((words + types) + positions)
    }
}

/// Bidirectional multi-head self-attention (checkpoint name `attention.self`).
#[derive(Module, Debug)]
pub struct BertSelfAttention<B: Backend> {
    /// Query projection (with bias).
    pub query: Linear<B>,
    /// Key projection (with bias).
    pub key: Linear<B>,
    /// Value projection (with bias).
    pub value: Linear<B>,
    num_heads: usize,
    head_dim: usize,
}

impl<B: Backend> BertSelfAttention<B> {
    fn heads(&self, x: Tensor<B, 3>) -> Tensor<B, 4> {
        let [b, l, _] = x.dims();
        x.reshape([b, l, self.num_heads, self.head_dim])
            .swap_dims(1, 2)
    }

    /// Attention over `x` `[batch, seq, d]`; keys where `padding` `[batch, seq]` is `true`
    /// get no weight.
    pub fn forward(&self, x: Tensor<B, 3>, padding: Option<&Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let [b, l, d] = x.dims();
        let q = self.heads(self.query.forward(x.clone()));
        let k = self.heads(self.key.forward(x.clone()));
        let v = self.heads(self.value.forward(x));
        let mask = padding.map(|p| {
            p.clone()
                .reshape([b, 1, 1, l])
                .expand([b, self.num_heads, l, l])
        });
        let out = attention(q, k, v, mask, None, AttentionModuleOptions::default());
        out.swap_dims(1, 2).reshape([b, l, d])
    }
}

/// Attention output projection, residual and LayerNorm (checkpoint name `attention.output`).
#[derive(Module, Debug)]
pub struct BertSelfOutput<B: Backend> {
    /// Output projection.
    pub dense: Linear<B>,
    /// Checkpoint name `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
}

/// Self-attention plus its output block.
#[derive(Module, Debug)]
pub struct BertAttention<B: Backend> {
    /// Checkpoint name `self`.
    pub self_attention: BertSelfAttention<B>,
    /// Output projection + residual + LayerNorm.
    pub output: BertSelfOutput<B>,
}

impl<B: Backend> BertAttention<B> {
    /// `LayerNorm(x + dense(attention(x)))`.
    pub fn forward(&self, x: Tensor<B, 3>, padding: Option<&Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let a = self.self_attention.forward(x.clone(), padding);
        self.output
            .layer_norm
            .forward(self.output.dense.forward(a) + x)
    }
}

/// First half of the feed-forward block: `gelu(dense(x))` with the exact (erf) GELU.
#[derive(Module, Debug)]
pub struct BertIntermediate<B: Backend> {
    /// `[d → intermediate]` projection.
    pub dense: Linear<B>,
}

/// Second half of the feed-forward block, residual and LayerNorm.
#[derive(Module, Debug)]
pub struct BertOutput<B: Backend> {
    /// `[intermediate → d]` projection.
    pub dense: Linear<B>,
    /// Checkpoint name `LayerNorm`.
    pub layer_norm: LayerNorm<B>,
}

/// One post-norm transformer block.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    /// Attention block.
    pub attention: BertAttention<B>,
    /// Feed-forward up projection.
    pub intermediate: BertIntermediate<B>,
    /// Feed-forward down projection + residual + LayerNorm.
    pub output: BertOutput<B>,
}

impl<B: Backend> BertLayer<B> {
    /// Hidden states in, hidden states out.
    pub fn forward(&self, x: Tensor<B, 3>, padding: Option<&Tensor<B, 2, Bool>>) -> Tensor<B, 3> {
        let x = self.attention.forward(x, padding);
        let h = gelu(self.intermediate.dense.forward(x.clone()));
        self.output
            .layer_norm
            .forward(self.output.dense.forward(h) + x)
    }
}

/// The stack of blocks (checkpoint name `encoder`).
#[derive(Module, Debug)]
pub struct BertEncoder<B: Backend> {
    /// Checkpoint name `layer`: the blocks in order.
    pub layer: Vec<BertLayer<B>>,
}

/// A BERT model without pooler: embeddings and encoder blocks.
#[derive(Module, Debug)]
pub struct BertModel<B: Backend> {
    /// Embedding block.
    pub embeddings: BertEmbeddings<B>,
    /// Transformer blocks.
    pub encoder: BertEncoder<B>,
}

impl<B: Backend> BertModel<B> {
    /// Last hidden state `[batch, seq, d]` of right-padded `ids` `[batch, seq]`.
    ///
    /// `padding` `[batch, seq]` is `true` at padded positions; their keys are masked out so
    /// that the states of real tokens do not depend on the padding. States *at* padded
    /// positions are meaningless. Panics (like any burn op) if `seq` exceeds
    /// `max_position_embeddings` or an id is outside the vocabulary: callers check first.
    pub fn forward(
        &self,
        ids: Tensor<B, 2, Int>,
        token_type_ids: Option<Tensor<B, 2, Int>>,
        padding: Option<Tensor<B, 2, Bool>>,
    ) -> Tensor<B, 3> {
        let mut x = self.embeddings.forward(ids, token_type_ids);
        for block in &self.encoder.layer {
            x = block.forward(x, padding.as_ref());
        }
        x
    }

    /// Number of blocks.
    pub fn num_layers(&self) -> usize {
        self.encoder.layer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    #[test]
    fn padded_keys_do_not_change_real_tokens() {
        let dev = Default::default();
        let model = BertConfig::new(20, 8, 2, 2, 16).init::<NdArray>(&dev);
        let alone = Tensor::<NdArray, 2, Int>::from_ints([[1, 5, 7]], &dev);
        let want = model
            .forward(alone, None, None)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let padded = Tensor::<NdArray, 2, Int>::from_ints([[1, 5, 7, 0, 0]], &dev);
        let mask = Tensor::<NdArray, 2, Bool>::from_data(
            TensorData::new(vec![false, false, false, true, true], [1, 5]),
            &dev,
        );
        let got = model
            .forward(padded.clone(), None, Some(mask))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let err = want
            .iter()
            .zip(&got[..24])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(err < 1e-5, "masked padding changed real tokens by {err}");
        // Without the mask the padding is attended to and the states differ.
        let unmasked = model
            .forward(padded, None, None)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let diff = want
            .iter()
            .zip(&unmasked[..24])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff > 1e-4);
    }
}
