//! [`LlamaBackbone`]: a llama model from a GGUF file as a [`cllm_core::Backbone`].

use std::path::Path;
use std::sync::OnceLock;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use cllm_core::{Backbone, CoreError, DecodeStrategy, TokenMatrix};
use cllm_gguf::GgufFile;
use tokenizers::Tokenizer;

use crate::llama::{config_from_gguf, load_llama, runs_on_host, HostLlama, Llama, LlamaConfig};
use crate::tokenizer::{SpecialTokens, TokenizerSpec};
use crate::BackboneError;

/// Rows decoded per chunk by the nearest-embedding and head decoders (bounds the
/// `[rows × vocab]` score matrix to ~100 MB at a 49k vocabulary).
const DECODE_CHUNK_ROWS: usize = 512;

/// A llama-architecture model loaded from GGUF, with its tokenizer, on one device.
///
/// ```no_run
/// use cllm_backbone::{device, LlamaBackbone};
/// use cllm_core::{Backbone, DecodeStrategy};
///
/// let dev = device::default_device()?;
/// let model = LlamaBackbone::<device::DefaultBackend>::from_gguf("SmolLM2-135M-Instruct.Q4_1.gguf", &dev)?;
/// let m = model.embed("Margherita pizza: dough, tomato, mozzarella, basil.", 0)?;
/// assert_eq!(m.cols(), 576);
/// // At layer 0 the nearest-embedding decoder is an exact inverse.
/// assert_eq!(model.decode(&m, DecodeStrategy::NearestEmbedding)?,
///            "Margherita pizza: dough, tomato, mozzarella, basil.");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LlamaBackbone<B: Backend> {
    model: Llama<B>,
    config: LlamaConfig,
    tokenizer: Tokenizer,
    name: String,
    max_len: usize,
    /// `‖E_v‖²` for every vocabulary row, for the nearest-embedding decoder.
    embedding_sq_norms: Tensor<B, 1>,
    /// Exact-match index of the embedding rows (the fast path of the layer-0 inverse).
    exact_rows: ExactRowIndex,
    /// The weights on the host for key/value-cached decoding steps on the CPU backends
    /// (made on the first [`continuations`](cllm_core::LanguageModel::continuations);
    /// `None` inside on other backends).
    host_steps: OnceLock<Option<HostLlama>>,
    device: B::Device,
}

impl<B: Backend> LlamaBackbone<B> {
    /// Opens a GGUF file and loads model and tokenizer onto `device`.
    pub fn from_gguf(path: impl AsRef<Path>, device: &B::Device) -> Result<Self, BackboneError> {
        let path = path.as_ref();
        let file = GgufFile::open(path)?;
        let name = file
            .get_str("general.name")
            .map(str::to_string)
            .unwrap_or_else(|_| {
                path.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "llama".into())
            });
        Self::from_gguf_file(&file, name, device)
    }

    /// Loads from an already opened GGUF file.
    pub fn from_gguf_file(
        file: &GgufFile,
        name: impl Into<String>,
        device: &B::Device,
    ) -> Result<Self, BackboneError> {
        let config = config_from_gguf(file)?;
        let tokenizer = tokenizer_spec(file)?.build()?;
        if tokenizer.get_vocab_size(true) != config.vocab_size {
            return Err(BackboneError::InvalidConfig(format!(
                "tokenizer has {} entries, the model's vocabulary {}",
                tokenizer.get_vocab_size(true),
                config.vocab_size
            )));
        }
        let model = load_llama::<B>(file, &config, device)?;
        Ok(Self::new(
            model,
            config,
            tokenizer,
            name.into(),
            device.clone(),
        ))
    }

    /// Wraps an existing model and tokenizer.
    pub fn new(
        model: Llama<B>,
        config: LlamaConfig,
        tokenizer: Tokenizer,
        name: String,
        device: B::Device,
    ) -> Self {
        let embedding_sq_norms = model
            .embed_tokens
            .weight
            .val()
            .square()
            .sum_dim(1)
            .squeeze_dim::<1>(1);
        let exact_rows = ExactRowIndex::new(&model.embed_tokens.weight.val());
        Self {
            exact_rows,
            max_len: config.max_position_embeddings,
            model,
            config,
            tokenizer,
            name,
            embedding_sq_norms,
            host_steps: OnceLock::new(),
            device,
        }
    }

    /// Caps the accepted input length (default: the model's context length).
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len.min(self.config.max_position_embeddings);
        self.host_steps = OnceLock::new(); // its rotary tables cover the old length
        self
    }

    /// The burn module.
    pub fn model(&self) -> &Llama<B> {
        &self.model
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The tokenizer rebuilt from the GGUF metadata.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The model's weights on the host for cached decoding steps, when the backend keeps its
    /// tensors there (copied on the first call).
    pub(crate) fn host_steps(&self) -> Option<&HostLlama> {
        self.host_steps
            .get_or_init(|| {
                runs_on_host::<B>()
                    .then(|| HostLlama::new(&self.model, self.max_len))
                    .flatten()
            })
            .as_ref()
    }

    /// The device the model lives on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Right-padded `[batch, max_len]` id tensor of `batch` (checked sequences).
    fn id_tensor(&self, batch: &[Vec<u32>]) -> Result<Tensor<B, 2, Int>, CoreError> {
        let width = batch.iter().map(Vec::len).max().unwrap_or(0);
        let mut flat = Vec::with_capacity(batch.len() * width);
        for ids in batch {
            self.check_ids(ids)?;
            flat.extend(ids.iter().map(|&id| id as i64));
            flat.extend(std::iter::repeat_n(0i64, width - ids.len()));
        }
        Ok(Tensor::from_data(
            TensorData::new(flat, [batch.len(), width]),
            &self.device,
        ))
    }

    /// Hidden states `[batch, seq, d]` at `layer` for right-padded sequences; rows past a
    /// sequence's length are padding.
    pub fn hidden_states(
        &self,
        batch: &[Vec<u32>],
        layer: usize,
    ) -> Result<Tensor<B, 3>, CoreError> {
        self.check_layer(layer)?;
        if batch.is_empty() {
            return Err(CoreError::Empty { what: "batch" });
        }
        Ok(self.model.hidden_states(self.id_tensor(batch)?, layer))
    }

    /// Next-token logits `[batch, seq, vocab]` of the full model (final norm + head).
    pub fn next_token_logits(&self, batch: &[Vec<u32>]) -> Result<Tensor<B, 3>, CoreError> {
        if batch.is_empty() {
            return Err(CoreError::Empty { what: "batch" });
        }
        Ok(self.model.forward(self.id_tensor(batch)?))
    }

    fn matrix_tensor(&self, m: &TokenMatrix) -> Result<Tensor<B, 2>, CoreError> {
        if m.cols() != self.config.hidden_size {
            return Err(CoreError::ShapeMismatch {
                what: "token matrix width",
                expected: format!("{}", self.config.hidden_size),
                got: format!("{}", m.cols()),
            });
        }
        if m.is_empty() {
            return Err(CoreError::Empty {
                what: "token matrix",
            });
        }
        Ok(Tensor::from_data(
            TensorData::new(m.as_slice().to_vec(), [m.rows(), m.cols()]),
            &self.device,
        ))
    }

    /// Nearest embedding row (L2) of every row of `m` by exhaustive search over the
    /// vocabulary, without the exact-match shortcut that
    /// [`DecodeStrategy::NearestEmbedding`] takes for rows that are exact embeddings.
    pub fn nearest_embedding_ids(&self, m: &TokenMatrix) -> Result<Vec<u32>, CoreError> {
        self.search_nearest(self.matrix_tensor(m)?)
    }

    fn search_nearest(&self, x: Tensor<B, 2>) -> Result<Vec<u32>, CoreError> {
        // argmin ‖E_v − x‖² = argmax (2·E_v·x − ‖E_v‖²)
        let et = self.model.embed_tokens.weight.val().transpose();
        let norms = self.embedding_sq_norms.clone().unsqueeze::<2>();
        self.argmax_rows(x, |rows| rows.matmul(et.clone()) * 2.0 - norms.clone())
    }

    /// Argmax over the vocabulary of `score(rows)` for chunks of rows.
    fn argmax_rows(
        &self,
        x: Tensor<B, 2>,
        score: impl Fn(Tensor<B, 2>) -> Tensor<B, 2>,
    ) -> Result<Vec<u32>, CoreError> {
        let rows = x.dims()[0];
        let mut out = Vec::with_capacity(rows);
        for start in (0..rows).step_by(DECODE_CHUNK_ROWS) {
            let len = DECODE_CHUNK_ROWS.min(rows - start);
            let ids = score(x.clone().narrow(0, start, len)).argmax(1);
            let ids = ids
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .map_err(|e| CoreError::Unsupported(format!("reading ids back: {e:?}")))?;
            out.extend(ids.into_iter().map(|i| i as u32));
        }
        Ok(out)
    }
}

/// Maps the exact bit pattern of each embedding row to its (lowest) token id, so that
/// decoding a layer-0 matrix costs one hash per row instead of a search over the vocabulary.
/// Gives the same ids as the L2 search whenever every row is an exact embedding (distance 0,
/// ties broken towards the lowest id).
#[derive(Debug)]
struct ExactRowIndex {
    width: usize,
    rows: Vec<f32>,
    by_hash: std::collections::HashMap<u64, u32>,
}

impl ExactRowIndex {
    fn new<B: Backend>(table: &Tensor<B, 2>) -> Self {
        let [vocab, width] = table.dims();
        let rows = match table.clone().into_data().convert::<f32>().to_vec::<f32>() {
            Ok(rows) => rows,
            Err(e) => {
                // only the fast path is lost: decoding falls back to the full L2 search
                tracing::warn!(error = ?e, "embedding table not readable; exact-row fast path off");
                Vec::new()
            }
        };
        let mut by_hash = std::collections::HashMap::with_capacity(vocab);
        if rows.len() == vocab * width {
            for (id, row) in rows.chunks_exact(width).enumerate() {
                by_hash.entry(row_hash(row)).or_insert(id as u32);
            }
        }
        Self {
            width,
            rows,
            by_hash,
        }
    }

    fn lookup(&self, row: &[f32]) -> Option<u32> {
        let id = *self.by_hash.get(&row_hash(row))?;
        let start = id as usize * self.width;
        let stored = &self.rows[start..start + self.width];
        stored
            .iter()
            .zip(row)
            .all(|(a, b)| a.to_bits() == b.to_bits())
            .then_some(id)
    }

    /// Ids of all rows of `m`, or `None` if any row is not exactly an embedding.
    fn lookup_all(&self, m: &TokenMatrix) -> Option<Vec<u32>> {
        if m.cols() != self.width {
            return None;
        }
        m.iter_rows().map(|r| self.lookup(r)).collect()
    }
}

fn row_hash(row: &[f32]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in row {
        v.to_bits().hash(&mut h);
    }
    h.finish()
}

/// The tokenizer description stored in a GGUF file's metadata. Optional keys (`pre`,
/// `token_type`, the special-token ids) may be absent; present with the wrong type or an
/// out-of-range value they are an error, never silently ignored.
pub fn tokenizer_spec(file: &GgufFile) -> Result<TokenizerSpec, BackboneError> {
    Ok(TokenizerSpec {
        model: file.get_str("tokenizer.ggml.model")?.to_string(),
        pre: optional(file.get_str("tokenizer.ggml.pre"))?.map(str::to_string),
        tokens: owned(file.get_str_array("tokenizer.ggml.tokens")?),
        token_types: optional(file.get_i32_array("tokenizer.ggml.token_type"))?.unwrap_or_default(),
        merges: owned(file.get_str_array("tokenizer.ggml.merges")?),
        special: SpecialTokens::read(|key| optional(file.get_u32(key)))?,
    })
}

/// `Ok(None)` for an absent metadata key; any other error (a wrong type, a value out of
/// range) is kept.
pub(crate) fn optional<T>(
    value: Result<T, cllm_gguf::GgufError>,
) -> Result<Option<T>, cllm_gguf::GgufError> {
    match value {
        Ok(v) => Ok(Some(v)),
        Err(cllm_gguf::GgufError::MissingKey { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn owned(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(str::to_string).collect()
}

fn to_matrix<B: Backend>(t: Tensor<B, 2>) -> Result<TokenMatrix, CoreError> {
    let [rows, cols] = t.dims();
    let values = t
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| CoreError::Unsupported(format!("reading tensor back: {e:?}")))?;
    TokenMatrix::new(rows, cols, values)
}

impl<B: Backend> Backbone for LlamaBackbone<B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn width(&self) -> usize {
        self.config.hidden_size
    }

    fn num_layers(&self) -> usize {
        self.config.num_hidden_layers
    }

    fn max_len(&self) -> usize {
        self.max_len
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>, CoreError> {
        let enc = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| BackboneError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    fn token_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    fn embedding_table(&self) -> Result<TokenMatrix, CoreError> {
        to_matrix(self.model.embed_tokens.weight.val())
    }

    fn detokenize(&self, ids: &[u32]) -> Result<String, CoreError> {
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab_size()) {
            return Err(CoreError::TokenOutOfRange {
                id,
                vocab: self.vocab_size(),
            });
        }
        Ok(self
            .tokenizer
            .decode(ids, false)
            .map_err(|e| BackboneError::Tokenizer(e.to_string()))?)
    }

    fn embed_ids(&self, ids: &[u32], layer: usize) -> Result<TokenMatrix, CoreError> {
        let mut out = self.embed_ids_batch(&[ids.to_vec()], layer)?;
        Ok(out.remove(0))
    }

    fn embed_ids_batch(
        &self,
        batch: &[Vec<u32>],
        layer: usize,
    ) -> Result<Vec<TokenMatrix>, CoreError> {
        let states = self.hidden_states(batch, layer)?;
        let [_, _, d] = states.dims();
        batch
            .iter()
            .enumerate()
            .map(|(i, ids)| {
                let t = states.clone().narrow(0, i, 1).narrow(1, 0, ids.len());
                to_matrix(t.reshape([ids.len(), d]))
            })
            .collect()
    }

    fn head_logits(&self, m: &TokenMatrix, final_norm: bool) -> Result<TokenMatrix, CoreError> {
        let x = self.matrix_tensor(m)?.unsqueeze::<3>();
        let logits = self.model.head_logits(x, final_norm);
        let [_, rows, vocab] = logits.dims();
        to_matrix(logits.reshape([rows, vocab]))
    }

    fn decode_ids(&self, m: &TokenMatrix, strategy: DecodeStrategy) -> Result<Vec<u32>, CoreError> {
        let x = self.matrix_tensor(m)?;
        match strategy {
            DecodeStrategy::NearestEmbedding => {
                // Rows that are exactly an embedding (any layer-0 matrix) need no search.
                if let Some(ids) = self.exact_rows.lookup_all(m) {
                    return Ok(ids);
                }
                self.search_nearest(x)
            }
            DecodeStrategy::HeadArgmax { final_norm } => self.argmax_rows(x, |rows| {
                let logits = self.model.head_logits(rows.unsqueeze::<3>(), final_norm);
                let [_, r, v] = logits.dims();
                logits.reshape([r, v])
            }),
        }
    }
}
