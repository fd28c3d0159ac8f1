use crate::{CoreError, TokenMatrix};

/// How a [`Backbone`] turns the rows of a [`TokenMatrix`] back into token ids.
///
/// At layer 0 (the token-embedding table) [`DecodeStrategy::NearestEmbedding`] is an exact
/// inverse: each row is the embedding of exactly one vocabulary entry. The tied LM head is
/// **not** an exact inverse there (on SmolLM2, `argmax(E·x)` recovers only ~81% of recipe
/// tokens from their own exact embeddings), but it gives scores over the vocabulary that
/// sampling and beam strategies need.
///
/// For deeper layers (hidden states after some transformer blocks) no exact inverse exists:
/// [`DecodeStrategy::HeadArgmax`] with `final_norm: true` is the "logit lens", and at the
/// last layer it yields the model's *next-token* prediction at each position (shifted by
/// one), not the input token. A CLLM therefore works at layer 0, where the round trip is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecodeStrategy {
    /// Each row maps to the vocabulary entry whose embedding is nearest in Euclidean distance.
    #[default]
    NearestEmbedding,
    /// Each row maps to the argmax of the (tied) LM head logits `E · x`.
    HeadArgmax {
        /// Apply the model's final normalisation to the row before the head.
        final_norm: bool,
    },
}

/// A pretrained language model used as the method's backbone: it turns a text into a
/// token-embedding matrix `[L × d]` at a chosen layer and turns such a matrix back into
/// token ids and text.
///
/// Layers are numbered `0..=num_layers()`: layer 0 is the token-embedding table, layer `i`
/// the residual stream after `i` transformer blocks (before any final normalisation).
///
/// The trait is object safe, so a `Box<dyn Backbone>` can hold any adapter.
///
/// ```
/// use cllm_core::{Backbone, CoreError, DecodeStrategy, TokenMatrix};
///
/// /// A toy backbone: one byte = one token, embedded as a one-hot row.
/// struct Bytes;
/// impl Backbone for Bytes {
///     fn name(&self) -> &str { "bytes" }
///     fn vocab_size(&self) -> usize { 256 }
///     fn width(&self) -> usize { 256 }
///     fn num_layers(&self) -> usize { 0 }
///     fn max_len(&self) -> usize { 1024 }
///     fn tokenize(&self, text: &str) -> Result<Vec<u32>, CoreError> {
///         Ok(text.bytes().map(u32::from).collect())
///     }
///     fn detokenize(&self, ids: &[u32]) -> Result<String, CoreError> {
///         Ok(ids.iter().map(|&i| i as u8 as char).collect())
///     }
///     fn embed_ids(&self, ids: &[u32], layer: usize) -> Result<TokenMatrix, CoreError> {
///         self.check_layer(layer)?;
///         let mut data = vec![0.0; ids.len() * 256];
///         for (r, &id) in ids.iter().enumerate() { data[r * 256 + id as usize] = 1.0; }
///         TokenMatrix::new(ids.len(), 256, data)
///     }
///     fn head_logits(&self, m: &TokenMatrix, _final_norm: bool) -> Result<TokenMatrix, CoreError> {
///         Ok(m.clone())
///     }
///     fn decode_ids(&self, m: &TokenMatrix, _s: DecodeStrategy) -> Result<Vec<u32>, CoreError> {
///         Ok(m.iter_rows().map(|r| {
///             r.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u32
///         }).collect())
///     }
/// }
///
/// let b = Bytes;
/// let m = b.embed("pizza", 0)?;
/// assert_eq!(m.shape(), (5, 256));
/// assert_eq!(b.decode(&m, DecodeStrategy::NearestEmbedding)?, "pizza");
/// assert!(b.embed("", 0).is_err());
/// assert!(b.embed("x", 1).is_err());
/// // the provided methods: the embedding table and token lookup
/// let table = b.embedding_table()?;
/// assert_eq!(table.shape(), (256, 256));
/// assert_eq!(table.row(b'p' as usize), m.row(0));
/// assert_eq!(b.token_id("p"), Some(u32::from(b'p')));
/// assert_eq!(b.token_id("pi"), None);
/// # Ok::<(), CoreError>(())
/// ```
pub trait Backbone {
    /// A short name of the model (used to key stored vectors and caches).
    fn name(&self) -> &str;
    /// Number of entries of the vocabulary.
    fn vocab_size(&self) -> usize;
    /// Width `d` of the token matrices.
    fn width(&self) -> usize;
    /// Number of transformer blocks; valid layers are `0..=num_layers()`.
    fn num_layers(&self) -> usize;
    /// Longest input, in tokens.
    fn max_len(&self) -> usize;

    /// Text to token ids (no special tokens added).
    fn tokenize(&self, text: &str) -> Result<Vec<u32>, CoreError>;

    /// The id of the vocabulary entry spelled exactly `token` (special tokens included,
    /// e.g. SmolLM2's `<|im_end|>`), or `None` when the vocabulary has no such entry.
    ///
    /// The provided method tokenizes `token` and accepts it when it is one token that
    /// detokenizes back to `token`; adapters with a vocabulary lookup override it.
    fn token_id(&self, token: &str) -> Option<u32> {
        match self.tokenize(token).ok()?.as_slice() {
            &[id] if self.detokenize(&[id]).ok()? == token => Some(id),
            _ => None,
        }
    }
    /// Token ids to text.
    fn detokenize(&self, ids: &[u32]) -> Result<String, CoreError>;

    /// Token ids to the `[L × d]` matrix of hidden states at `layer`.
    fn embed_ids(&self, ids: &[u32], layer: usize) -> Result<TokenMatrix, CoreError>;

    /// Many sequences at once; adapters override this to batch the forward pass.
    fn embed_ids_batch(
        &self,
        batch: &[Vec<u32>],
        layer: usize,
    ) -> Result<Vec<TokenMatrix>, CoreError> {
        batch.iter().map(|ids| self.embed_ids(ids, layer)).collect()
    }

    /// The token-embedding table `[vocab_size × width]` (the layer-0 matrix of every
    /// vocabulary entry): row `v` is the embedding of token `v`.
    ///
    /// The provided method embeds every id at layer 0, [`max_len`](Backbone::max_len) ids
    /// at a time; adapters that hold the table override it with a copy.
    fn embedding_table(&self) -> Result<TokenMatrix, CoreError> {
        let (vocab, width) = (self.vocab_size(), self.width());
        let chunk = self.max_len().max(1);
        let end = u32::try_from(vocab).map_err(|_| {
            CoreError::Unsupported(format!("a vocabulary of {vocab} entries (ids are u32)"))
        })?;
        let ids: Vec<u32> = (0..end).collect();
        let mut data = Vec::with_capacity(vocab * width);
        for part in ids.chunks(chunk) {
            let rows = self.embed_ids(part, 0)?;
            if rows.shape() != (part.len(), width) {
                return Err(CoreError::ShapeMismatch {
                    what: "embedding rows",
                    expected: format!("{} x {width}", part.len()),
                    got: format!("{} x {}", rows.rows(), rows.cols()),
                });
            }
            data.extend_from_slice(rows.as_slice());
        }
        TokenMatrix::new(vocab, width, data)
    }

    /// Text to the `[L × d]` matrix at `layer`. Empty text and text longer than
    /// [`max_len`](Backbone::max_len) are errors.
    fn embed(&self, text: &str, layer: usize) -> Result<TokenMatrix, CoreError> {
        let ids = self.tokenize(text)?;
        self.check_ids(&ids)?;
        self.embed_ids(&ids, layer)
    }

    /// LM-head logits `[L × vocab_size]` for each row of `m` (the tied head `E · x`),
    /// optionally after the model's final normalisation. Rows of the result are tokens,
    /// columns vocabulary entries.
    fn head_logits(&self, m: &TokenMatrix, final_norm: bool) -> Result<TokenMatrix, CoreError>;

    /// Rows of `m` to token ids with the given strategy.
    fn decode_ids(&self, m: &TokenMatrix, strategy: DecodeStrategy) -> Result<Vec<u32>, CoreError>;

    /// Rows of `m` to text with the given strategy.
    fn decode(&self, m: &TokenMatrix, strategy: DecodeStrategy) -> Result<String, CoreError> {
        let ids = self.decode_ids(m, strategy)?;
        self.detokenize(&ids)
    }

    /// Checks a layer index against [`num_layers`](Backbone::num_layers).
    fn check_layer(&self, layer: usize) -> Result<(), CoreError> {
        if layer > self.num_layers() {
            return Err(CoreError::LayerOutOfRange {
                layer,
                max: self.num_layers(),
            });
        }
        Ok(())
    }

    /// Checks a token sequence: non-empty, within [`max_len`](Backbone::max_len), ids in range.
    fn check_ids(&self, ids: &[u32]) -> Result<(), CoreError> {
        if ids.is_empty() {
            return Err(CoreError::Empty { what: "token ids" });
        }
        if ids.len() > self.max_len() {
            return Err(CoreError::TooLong {
                len: ids.len(),
                max: self.max_len(),
            });
        }
        if let Some(&id) = ids.iter().find(|&&id| id as usize >= self.vocab_size()) {
            return Err(CoreError::TokenOutOfRange {
                id,
                vocab: self.vocab_size(),
            });
        }
        Ok(())
    }
}
