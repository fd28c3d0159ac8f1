//! Sentence encoders: [`MiniLm`] (all-MiniLM-L6-v2 in burn) and [`LayerMeanPool`] (a llama
//! backbone's hidden states mean-pooled at one layer), both [`SentenceEncoder`]s.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use cllm_core::{Backbone, CoreError, SentenceEncoder};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::bert::loader::read_file;
use crate::bert::{config_from_file, load_bert_file, BertConfig, BertModel};
use crate::{BackboneError, LlamaBackbone};

/// Floor of the token count in mean pooling (as sentence-transformers).
const MIN_TOKENS: f64 = 1e-9;
/// Floor of the norm in L2 normalisation (as `torch.nn.functional.normalize`).
const MIN_NORM: f64 = 1e-12;

/// A BERT sentence encoder such as all-MiniLM-L6-v2, computing what sentence-transformers
/// computes for that model: tokens (`[CLS] … [SEP]`, truncated to [`max_len`](Self::max_len)),
/// the last hidden state, its mean over the real (non-padded) tokens, L2-normalised.
///
/// Texts are embedded in batches of similar length, right-padded with an attention mask,
/// so the result of a text does not depend on the other texts of the call.
///
/// ```no_run
/// use std::path::Path;
/// use cllm_backbone::{device, MiniLm};
///
/// let dev = device::default_device()?;
/// // A directory with config.json, tokenizer.json and model.safetensors.
/// let minilm = MiniLm::<device::DefaultBackend>::from_dir(Path::new("all-MiniLM-L6-v2"), &dev)?;
/// let v = minilm.embed_sentences(&["Margherita pizza", "Tomato soup with basil"])?;
/// assert_eq!((v.len(), v[0].len()), (2, 384));
/// let cosine: f32 = v[0].iter().zip(&v[1]).map(|(a, b)| a * b).sum();
/// println!("cosine similarity {cosine:.3}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MiniLm<B: Backend> {
    model: BertModel<B>,
    config: BertConfig,
    tokenizer: Tokenizer,
    max_len: usize,
    batch_size: usize,
    device: B::Device,
}

impl<B: Backend> MiniLm<B> {
    /// Default token limit, `[CLS]` and `[SEP]` included (sentence-transformers'
    /// `max_seq_length` for all-MiniLM-L6-v2).
    pub const DEFAULT_MAX_LEN: usize = 256;
    /// Default number of texts per forward pass.
    pub const DEFAULT_BATCH_SIZE: usize = 32;

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    ///
    /// Errors: [`BackboneError::MissingFile`] for an absent file,
    /// [`BackboneError::InvalidConfig`] for an unusable configuration,
    /// [`BackboneError::Tokenizer`] for a bad tokenizer, and
    /// [`BackboneError::Safetensors`] / [`BackboneError::MissingTensor`] /
    /// [`BackboneError::TensorShape`] / [`BackboneError::NonFiniteWeight`] /
    /// [`BackboneError::UnsupportedDtype`] for bad weights.
    pub fn from_dir(dir: impl AsRef<Path>, device: &B::Device) -> Result<Self, BackboneError> {
        let dir = dir.as_ref();
        let config = config_from_file(&dir.join("config.json"))?;
        let tokenizer = Tokenizer::from_bytes(read_file(&dir.join("tokenizer.json"))?)
            .map_err(|e| BackboneError::Tokenizer(format!("tokenizer.json: {e}")))?;
        let model = load_bert_file::<B>(&dir.join("model.safetensors"), &config, device)?;
        Self::new(model, config, tokenizer, device.clone())
    }

    /// Wraps a loaded model and tokenizer. The tokenizer's own truncation and padding
    /// settings are replaced: texts are truncated to [`DEFAULT_MAX_LEN`](Self::DEFAULT_MAX_LEN)
    /// tokens (or the model's positions, if fewer) and padded by the encoder.
    pub fn new(
        model: BertModel<B>,
        config: BertConfig,
        tokenizer: Tokenizer,
        device: B::Device,
    ) -> Result<Self, BackboneError> {
        config.validate().map_err(BackboneError::InvalidConfig)?;
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > config.vocab_size {
            return Err(BackboneError::InvalidConfig(format!(
                "tokenizer has {vocab} entries, the model's vocabulary {}",
                config.vocab_size
            )));
        }
        let max_len = Self::DEFAULT_MAX_LEN.min(config.max_position_embeddings);
        let encoder = Self {
            model,
            config,
            tokenizer,
            max_len,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            device,
        };
        encoder.with_max_len(max_len)
    }

    /// Sets the token limit (`[CLS]` and `[SEP]` included); longer texts are truncated.
    /// Values above the model's `max_position_embeddings` are capped to it; values below 2
    /// (no room for a token between `[CLS]` and `[SEP]`) are an error.
    ///
    /// ```no_run
    /// # use cllm_backbone::{device, MiniLm};
    /// # let dev = device::default_device()?;
    /// let minilm = MiniLm::<device::DefaultBackend>::from_dir("all-MiniLM-L6-v2", &dev)?
    ///     .with_max_len(128)?;
    /// assert_eq!(minilm.max_len(), 128);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_max_len(mut self, max_len: usize) -> Result<Self, BackboneError> {
        if max_len < 2 {
            return Err(BackboneError::InvalidConfig(format!(
                "max_len {max_len} leaves no room for a token between [CLS] and [SEP]"
            )));
        }
        let max_len = max_len.min(self.config.max_position_embeddings);
        self.tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| BackboneError::Tokenizer(format!("setting truncation: {e}")))?;
        self.tokenizer.with_padding(None);
        self.max_len = max_len;
        Ok(self)
    }

    /// Sets the number of texts per forward pass (at least 1; default
    /// [`DEFAULT_BATCH_SIZE`](Self::DEFAULT_BATCH_SIZE)). Results do not depend on it.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// Token limit, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Width of the sentence vectors (the model's hidden size).
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// The burn module.
    pub fn model(&self) -> &BertModel<B> {
        &self.model
    }

    /// The tokenizer (with this encoder's truncation, no padding).
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The device the model lives on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Token ids of `text` as the model sees them: `[CLS] … [SEP]`, truncated to
    /// [`max_len`](Self::max_len).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, BackboneError> {
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| BackboneError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    fn check_ids(&self, ids: &[u32]) -> Result<(), CoreError> {
        if ids.is_empty() {
            return Err(CoreError::Empty { what: "token ids" });
        }
        if ids.len() > self.max_len {
            return Err(CoreError::TooLong {
                len: ids.len(),
                max: self.max_len,
            });
        }
        if let Some(&id) = ids
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            return Err(CoreError::TokenOutOfRange {
                id,
                vocab: self.config.vocab_size,
            });
        }
        Ok(())
    }

    /// Last hidden state `[batch, width, d]` of right-padded sequences (`width` = the
    /// longest); rows past a sequence's length are padding and meaningless. Every sequence
    /// must be non-empty, at most [`max_len`](Self::max_len) long, with ids in the vocabulary.
    pub fn last_hidden_states(&self, batch: &[Vec<u32>]) -> Result<Tensor<B, 3>, BackboneError> {
        if batch.is_empty() {
            return Err(CoreError::Empty { what: "batch" }.into());
        }
        for ids in batch {
            self.check_ids(ids)?;
        }
        let width = batch.iter().map(Vec::len).max().unwrap_or(0);
        let pad = self.config.pad_token_id as i64;
        let mut flat = Vec::with_capacity(batch.len() * width);
        let mut padding = Vec::with_capacity(batch.len() * width);
        for ids in batch {
            flat.extend(ids.iter().map(|&id| id as i64));
            flat.extend(std::iter::repeat_n(pad, width - ids.len()));
            padding.extend((0..width).map(|i| i >= ids.len()));
        }
        let shape = [batch.len(), width];
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, shape), &self.device);
        let mask = padding.iter().any(|&p| p).then(|| {
            Tensor::<B, 2, Bool>::from_data(TensorData::new(padding, shape), &self.device)
        });
        Ok(self.model.forward(ids, None, mask))
    }

    /// Mean-pooled, L2-normalised sentence vectors of token sequences (as
    /// [`tokenize`](Self::tokenize) returns them), in input order.
    pub fn embed_ids(&self, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, BackboneError> {
        pooled_in_batches(batch, self.batch_size, |chunk| {
            let states = self.last_hidden_states(chunk)?;
            Ok(mean_pool_normalise(states, chunk, &self.device)?)
        })
    }

    /// One 384-d (the hidden size) unit vector per text, in input order: attention-mask
    /// mean pooling of the last hidden state, then L2 normalisation, exactly as
    /// sentence-transformers does for all-MiniLM-L6-v2. Texts longer than
    /// [`max_len`](Self::max_len) tokens are truncated; an empty list gives an empty result;
    /// an empty text is `[CLS] [SEP]` and gets a vector like any other.
    pub fn embed_sentences(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, BackboneError> {
        let ids = texts
            .iter()
            .map(|t| self.tokenize(t))
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_ids(&ids)
    }
}

impl<B: Backend> SentenceEncoder for MiniLm<B> {
    fn dim(&self) -> usize {
        self.config.hidden_size
    }

    fn encode_sentences(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, CoreError> {
        Ok(self.embed_sentences(texts)?)
    }
}

/// A [`LlamaBackbone`]'s hidden states at `layer` (0 = token embeddings), mean-pooled over
/// the tokens of each text and L2-normalised, as a [`SentenceEncoder`].
///
/// Texts are tokenized without special tokens (as [`Backbone::tokenize`]) and truncated to
/// the backbone's [`max_len`](Backbone::max_len); a text without any token is an error
/// ([`CoreError::Empty`]). Batches are right-padded; attention is causal, so the padding
/// never changes the states of real tokens.
///
/// ```no_run
/// use cllm_backbone::{device, LayerMeanPool, LlamaBackbone};
/// use cllm_core::SentenceEncoder;
///
/// let dev = device::default_device()?;
/// let llm = LlamaBackbone::<device::DefaultBackend>::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf", &dev)?;
/// let pool = LayerMeanPool::new(&llm, 15);
/// let v = pool.encode_sentences(&["Margherita pizza", "Tomato soup"])?;
/// assert_eq!(v[0].len(), pool.dim());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct LayerMeanPool<'a, B: Backend> {
    /// The language model.
    pub backbone: &'a LlamaBackbone<B>,
    /// The layer whose residual stream is pooled (0 = token embeddings).
    pub layer: usize,
}

impl<'a, B: Backend> LayerMeanPool<'a, B> {
    /// Texts per forward pass.
    pub const BATCH_SIZE: usize = 16;

    /// Pools `backbone`'s states after `layer` blocks.
    pub fn new(backbone: &'a LlamaBackbone<B>, layer: usize) -> Self {
        Self { backbone, layer }
    }
}

impl<B: Backend> SentenceEncoder for LayerMeanPool<'_, B> {
    fn dim(&self) -> usize {
        self.backbone.config().hidden_size
    }

    fn encode_sentences(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, CoreError> {
        self.backbone.check_layer(self.layer)?;
        let max = self.backbone.max_len();
        let ids = texts
            .iter()
            .map(|t| {
                let mut ids = self.backbone.tokenize(t)?;
                if ids.is_empty() {
                    return Err(CoreError::Empty {
                        what: "text (no tokens)",
                    });
                }
                ids.truncate(max);
                Ok(ids)
            })
            .collect::<Result<Vec<_>, _>>()?;
        pooled_in_batches(&ids, Self::BATCH_SIZE, |chunk| {
            let states = self.backbone.hidden_states(chunk, self.layer)?;
            mean_pool_normalise(states, chunk, self.backbone.device())
        })
    }
}

/// Runs `pool` on chunks of at most `batch_size` sequences of similar length (sorted by
/// length, so little padding) and returns the vectors in input order.
fn pooled_in_batches<E>(
    batch: &[Vec<u32>],
    batch_size: usize,
    mut pool: impl FnMut(&[Vec<u32>]) -> Result<Vec<Vec<f32>>, E>,
) -> Result<Vec<Vec<f32>>, E> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by_key(|&i| batch[i].len());
    let mut out = vec![Vec::new(); batch.len()];
    for idx in order.chunks(batch_size.max(1)) {
        let chunk: Vec<Vec<u32>> = idx.iter().map(|&i| batch[i].clone()).collect();
        for (&i, v) in idx.iter().zip(pool(&chunk)?) {
            out[i] = v;
        }
    }
    Ok(out)
}

/// Mean of `states` `[batch, width, d]` over the first `len` rows of each sequence, then
/// divided by its L2 norm (floors as sentence-transformers / torch).
fn mean_pool_normalise<B: Backend>(
    states: Tensor<B, 3>,
    batch: &[Vec<u32>],
    device: &B::Device,
) -> Result<Vec<Vec<f32>>, CoreError> {
    let [b, width, d] = states.dims();
    let mask: Vec<f32> = batch
        .iter()
        .flat_map(|ids| (0..width).map(move |i| if i < ids.len() { 1.0 } else { 0.0 }))
        .collect();
    let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [b, width]), device);
    let counts = mask.clone().sum_dim(1).clamp_min(MIN_TOKENS); // [b, 1]
    let summed = (states * mask.unsqueeze_dim::<3>(2))
        .sum_dim(1)
        .reshape([b, d]);
    let mean = summed / counts;
    let norm = mean.clone().square().sum_dim(1).sqrt().clamp_min(MIN_NORM);
    let values = (mean / norm)
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| CoreError::Unsupported(format!("reading vectors back: {e:?}")))?;
    Ok(values.chunks_exact(d).map(<[f32]>::to_vec).collect())
}
