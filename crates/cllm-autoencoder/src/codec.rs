//! [`Cllm`]: a trained model with its vocabulary table, and the batched
//! `encode(&[TokenMatrix]) -> Vec<TextVector>` / `decode(&[TextVector]) -> Vec<TokenMatrix>` API.

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};
use cllm_core::{LanguageModel, TextVector, TokenMatrix};

use crate::config::CllmConfig;
use crate::decoding::{decode_vectors, DecodeOptions, DecodedTokens, LanguageGuide};
use crate::error::{AutoencoderError, Result};
use crate::eval::{input_tensors, nearest_in_vocab, until_pad};
use crate::model::CllmModel;
use crate::persist;
use crate::vocab::VocabTable;

/// File names inside a model directory.
pub mod files {
    /// The [`CllmConfig`](crate::CllmConfig) as JSON.
    pub const CONFIG: &str = "config.json";
    /// The module record (burn named MessagePack, full precision).
    pub const MODEL: &str = "model.mpk";
    /// The [`VocabTable`](crate::VocabTable) (safetensors).
    pub const VOCAB: &str = "vocab.safetensors";

    /// The [`ContentKey`](cllm_core::ContentKey) of a saved model: its config, weights and
    /// vocabulary files. Results derived from a model (its zones, fitted codes, runs
    /// fine-tuned from it) record it, so a retrained model is never paired with them.
    ///
    /// # Errors
    /// [`AutoencoderError::Io`](crate::AutoencoderError) when a file cannot be read.
    pub fn model_key(dir: &std::path::Path) -> crate::Result<cllm_core::ContentKey> {
        let mut key = cllm_core::KeyBuilder::default();
        for name in [CONFIG, MODEL, VOCAB] {
            let path = dir.join(name);
            let file = cllm_core::ContentKey::of_file(&path)
                .map_err(|e| crate::AutoencoderError::io(&path, e))?;
            key = key.text(name).key(&file);
        }
        Ok(key.finish())
    }
}

/// A text decoded from a vector: backbone token ids (end token not included), the
/// decoder's log-probability of each chosen token (the end token's last when it ended).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedText {
    /// The backbone's token ids.
    pub ids: Vec<u32>,
    /// Log-probability of every chosen token, the end token included.
    pub logprobs: Vec<f32>,
    /// Whether the decoder ended the text (false: cut at the length limit).
    pub ended: bool,
}

/// Texts per forward pass in [`Cllm::encode`] and [`Cllm::decode`].
pub const DEFAULT_BATCH: usize = 32;

/// A trained CLLM ready to encode and decode: the network, its config and the corpus
/// vocabulary table used to pad inputs and to find the end of restored texts.
///
/// ```
/// use burn::backend::NdArray;
/// use cllm_autoencoder::{Cllm, CllmConfig, StageConfig, VocabTable};
/// use cllm_core::TokenMatrix;
///
/// let cfg = CllmConfig::new(4, 8, 8, 3, vec![StageConfig::new(1, 4, 4)]).with_heads(2);
/// let table: Vec<f32> = (0..5 * 4).map(|v| (v as f32 * 0.37).sin()).collect();
/// let vocab = VocabTable::from_embedding_table(&table, 4, 0..5u32, 0)?;
/// let cllm = Cllm::<NdArray>::new(cfg, vocab, 0, &Default::default())?;
/// let m = TokenMatrix::new(3, 4, table[4..16].to_vec())?;
/// let v = cllm.encode(&[m.clone(), m])?;
/// assert_eq!(v[0].dim(), 3);
/// let back = cllm.decode(&v)?; // untrained: some matrix of at most 8 rows
/// assert!(back[0].rows() <= 8 && back[0].cols() == 4);
/// assert!(cllm.encode(&[TokenMatrix::new(9, 4, vec![0.0; 36])?]).is_err()); // too long
/// # Ok::<(), cllm_autoencoder::AutoencoderError>(())
/// ```
#[derive(Debug)]
pub struct Cllm<B: Backend> {
    config: CllmConfig,
    model: CllmModel<B>,
    vocab: VocabTable,
    e_v: Tensor<B, 2>,
    device: B::Device,
    batch_size: usize,
}

impl<B: Backend> Cllm<B> {
    /// A freshly initialised model (backend seeded with `seed`).
    pub fn new(
        config: CllmConfig,
        vocab: VocabTable,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        B::seed(device, seed);
        let model = CllmModel::new(&config, device)?;
        Self::from_parts(config, model, vocab, device)
    }

    /// Wraps a model with its config and vocabulary.
    pub fn from_parts(
        config: CllmConfig,
        model: CllmModel<B>,
        vocab: VocabTable,
        device: &B::Device,
    ) -> Result<Self> {
        if vocab.width() != config.input_width {
            return Err(AutoencoderError::WrongWidth {
                what: "vocabulary rows",
                expected: config.input_width,
                got: vocab.width(),
            });
        }
        let e_v = vocab.tensor::<B>(device);
        Ok(Self {
            config,
            model,
            vocab,
            e_v,
            device: device.clone(),
            batch_size: DEFAULT_BATCH,
        })
    }

    /// Loads a model directory (`config.json`, `model.mpk`, `vocab.safetensors`), as
    /// written by training.
    ///
    /// Nothing in the directory is trusted: a missing file is an [`AutoencoderError::Io`],
    /// a config that does not describe a model an [`AutoencoderError::InvalidConfig`], a
    /// vocabulary of another width an [`AutoencoderError::WrongWidth`], and a record whose
    /// tensors do not match the config (another `k`, stage count or width, a truncated or
    /// hand-edited file, non-finite weights) an [`AutoencoderError::WeightShape`] or
    /// [`AutoencoderError::Format`] naming the tensor, checked before burn builds anything.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self> {
        let config = CllmConfig::load_json(&dir.join(files::CONFIG))?;
        config.validate()?;
        let vocab = VocabTable::load(&dir.join(files::VOCAB))?;
        if vocab.width() != config.input_width {
            return Err(AutoencoderError::WrongWidth {
                what: "vocabulary rows",
                expected: config.input_width,
                got: vocab.width(),
            });
        }
        let record = dir.join(files::MODEL);
        let record_bytes = std::fs::metadata(&record)
            .map_err(|e| AutoencoderError::io(&record, e))?
            .len();
        // A hand-edited config can claim a model far larger than memory: refuse it before
        // allocating, when the record is too small to hold even its weight matrices.
        let least = weight_count_lower_bound(&config).saturating_mul(4);
        if least > record_bytes {
            return Err(AutoencoderError::format(
                &record,
                format!(
                    "{record_bytes} bytes cannot hold the model of config.json \
                     (at least {least} bytes of weights)"
                ),
            ));
        }
        let model = CllmModel::<B>::new(&config, device)?;
        let model = persist::load_module(model, &record, device)?;
        if let Some(norm) = &model.latent_norm {
            norm.check()
                .map_err(|e| AutoencoderError::format(&record, e))?;
        }
        Self::from_parts(config, model, vocab, device)
    }

    /// Writes the model directory atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        save_model_dir(dir, &self.config, &self.model, &self.vocab)
    }

    /// Sets the number of texts per forward pass.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The architecture.
    pub fn config(&self) -> &CllmConfig {
        &self.config
    }
    /// The network.
    pub fn model(&self) -> &CllmModel<B> {
        &self.model
    }
    /// The device the model runs on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// The corpus vocabulary table.
    pub fn vocab(&self) -> &VocabTable {
        &self.vocab
    }
    /// Size `k` of the text vectors.
    pub fn k(&self) -> usize {
        self.config.k
    }

    /// Folds each `[L × d]` token matrix (`1 ≤ L ≤ max_len`, `d = input_width`) into a
    /// text vector of `k` floats. Shorter texts are padded with the pad/end embedding.
    pub fn encode(&self, texts: &[TokenMatrix]) -> Result<Vec<TextVector>> {
        let (l, d) = (self.config.max_len, self.config.input_width);
        for (i, m) in texts.iter().enumerate() {
            if m.cols() != d {
                return Err(AutoencoderError::WrongWidth {
                    what: "token matrix",
                    expected: d,
                    got: m.cols(),
                });
            }
            if m.is_empty() {
                return Err(AutoencoderError::Empty("token matrix"));
            }
            if m.rows() > l {
                return Err(AutoencoderError::TooLong {
                    index: i,
                    len: m.rows(),
                    max: l,
                });
            }
        }
        let pad = self.vocab.row(self.vocab.pad_index());
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size) {
            let b = chunk.len();
            let mut data = Vec::with_capacity(b * l * d);
            let mut mask = Vec::with_capacity(b * l);
            for m in chunk {
                data.extend_from_slice(m.as_slice());
                for _ in m.rows()..l {
                    data.extend_from_slice(pad);
                }
                mask.extend((0..l).map(|p| p >= m.rows()));
            }
            let x = Tensor::<B, 3>::from_data(TensorData::new(data, [b, l, d]), &self.device);
            let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [b, l]), &self.device);
            out.extend(self.vectors(self.model.encode(x, Some(mask)))?);
        }
        Ok(out)
    }

    /// Encodes texts given as token ids (each id must be in the vocabulary table).
    pub fn encode_ids(&self, texts: &[Vec<u32>]) -> Result<Vec<TextVector>> {
        let l = self.config.max_len;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch_size) {
            let mut rows = vec![self.vocab.pad_index(); chunk.len() * l];
            let mut lens = Vec::with_capacity(chunk.len());
            for (b, ids) in chunk.iter().enumerate() {
                if ids.is_empty() {
                    return Err(AutoencoderError::Empty("token ids"));
                }
                if ids.len() > l {
                    return Err(AutoencoderError::TooLong {
                        index: b,
                        len: ids.len(),
                        max: l,
                    });
                }
                let idx = self.vocab.indices_of(ids)?;
                rows[b * l..b * l + idx.len()].copy_from_slice(&idx);
                lens.push(ids.len());
            }
            let (x, mask) = input_tensors(&self.e_v, &rows, &lens, l);
            out.extend(self.vectors(self.model.encode(x, Some(mask)))?);
        }
        Ok(out)
    }

    fn vectors(&self, z: Tensor<B, 2>) -> Result<Vec<TextVector>> {
        let [_, k] = z.dims();
        let values = z
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| AutoencoderError::Tensor(format!("{e:?}")))?;
        values
            .chunks(k)
            .map(|c| {
                TextVector::new(c.to_vec())
                    .map_err(|_| AutoencoderError::NonFinite("encoded text vector"))
            })
            .collect()
    }

    fn check_vectors(&self, vectors: &[TextVector]) -> Result<()> {
        for v in vectors {
            if v.dim() != self.config.k {
                return Err(AutoencoderError::WrongWidth {
                    what: "text vector",
                    expected: self.config.k,
                    got: v.dim(),
                });
            }
        }
        Ok(())
    }

    fn latents(&self, vectors: &[TextVector]) -> Tensor<B, 2> {
        let k = self.config.k;
        let data: Vec<f32> = vectors
            .iter()
            .flat_map(|v| v.as_slice().iter().copied())
            .collect();
        Tensor::<B, 2>::from_data(TensorData::new(data, [vectors.len(), k]), &self.device)
    }

    /// The restored rows `[b, L, d]` of text vectors: the mirror's rows, or for the
    /// autoregressive decoder the embedding rows `E[ids]` of its greedy decode (padded
    /// with the end token's row).
    fn restore(&self, vectors: &[TextVector]) -> Result<Tensor<B, 3>> {
        let z = self.latents(vectors);
        match &self.model.decoder {
            crate::model::Decoder::Mirror(m) => Ok(m.forward(z)),
            crate::model::Decoder::Autoregressive(_) => {
                let (l, pad) = (self.config.max_len, self.vocab.pad_index());
                let decoded = self.generate_latents(z, &DecodeOptions::plain_greedy(), None)?;
                let mut rows = vec![pad; decoded.len() * l];
                for (b, d) in decoded.iter().enumerate() {
                    let n = d.indices.len().min(l);
                    rows[b * l..b * l + n].copy_from_slice(&d.indices[..n]);
                }
                let lens: Vec<usize> = decoded.iter().map(|d| d.indices.len().min(l)).collect();
                Ok(input_tensors(&self.e_v, &rows, &lens, l).0)
            }
        }
    }

    fn generate_latents(
        &self,
        z: Tensor<B, 2>,
        opts: &DecodeOptions,
        lm: Option<&dyn LanguageModel>,
    ) -> Result<Vec<DecodedTokens>> {
        let guide = lm.map(|lm| LanguageGuide {
            lm,
            vocab_ids: self.vocab.ids(),
        });
        decode_vectors(
            &self.model,
            &self.e_v,
            self.vocab.pad_index(),
            z,
            opts,
            guide,
        )
    }

    /// Decodes text vectors into token sequences with the model's decoder and `opts`
    /// (greedy, beam or nucleus search; repetition rules), with the decoder's
    /// log-probability of every chosen token. Token ids are the backbone's.
    /// `opts.lm_weight` must be 0 (see [`generate_guided`](Self::generate_guided)).
    pub fn generate(
        &self,
        vectors: &[TextVector],
        opts: &DecodeOptions,
    ) -> Result<Vec<GeneratedText>> {
        self.generate_guided(vectors, opts, None)
    }

    /// [`generate`](Self::generate) guided by a language model over the same token ids
    /// (the backbone, SmolLM2) when `opts.lm_weight` > 0: shallow fusion, see
    /// [`decoding`](crate::decoding). The log-probabilities reported are then the search's
    /// fused scores (decoder + λ · language model) of the chosen tokens.
    pub fn generate_guided(
        &self,
        vectors: &[TextVector],
        opts: &DecodeOptions,
        lm: Option<&dyn LanguageModel>,
    ) -> Result<Vec<GeneratedText>> {
        self.check_vectors(vectors)?;
        let mut out = Vec::with_capacity(vectors.len());
        for chunk in vectors.chunks(self.batch_size) {
            for d in self.generate_latents(self.latents(chunk), opts, lm)? {
                out.push(GeneratedText {
                    ids: d.indices.iter().map(|&i| self.vocab.ids()[i]).collect(),
                    logprobs: d.logprobs,
                    ended: d.ended,
                });
            }
        }
        Ok(out)
    }

    /// Restores each text vector to a token matrix: the decoder's rows up to (not
    /// including) the first row that decodes to the pad/end token.
    pub fn decode(&self, vectors: &[TextVector]) -> Result<Vec<TokenMatrix>> {
        self.check_vectors(vectors)?;
        let (l, d) = (self.config.max_len, self.config.input_width);
        let mut out = Vec::with_capacity(vectors.len());
        for chunk in vectors.chunks(self.batch_size) {
            let restored = self.restore(chunk)?;
            let ids = nearest_in_vocab(restored.clone(), &self.e_v)?;
            let values = restored
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| AutoencoderError::Tensor(format!("{e:?}")))?;
            for (b, pred) in ids.iter().enumerate() {
                let n = until_pad(pred, self.vocab.pad_index()).len();
                let start = b * l * d;
                let m = TokenMatrix::new(n, d, values[start..start + n * d].to_vec())
                    .map_err(|_| AutoencoderError::NonFinite("decoded token matrix"))?;
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Decodes each text vector to token ids by plain greedy search (the argmax of the
    /// tied head over the corpus vocabulary at every position), ending before the first
    /// pad/end token.
    pub fn decode_ids(&self, vectors: &[TextVector]) -> Result<Vec<Vec<u32>>> {
        Ok(self
            .generate(vectors, &DecodeOptions::plain_greedy())?
            .into_iter()
            .map(|t| t.ids)
            .collect())
    }
}

impl<B: Backend> Cllm<B> {
    /// Encodes and decodes texts given as token ids and scores the reconstruction
    /// (token accuracy, exact-text rate). Returns the decoded ids (before the end token).
    pub fn evaluate_ids(&self, texts: &[Vec<u32>]) -> Result<(crate::EvalReport, Vec<Vec<u32>>)> {
        let indexed: Vec<Vec<usize>> = texts
            .iter()
            .map(|t| self.vocab.indices_of(t))
            .collect::<Result<_>>()?;
        let refs: Vec<&[usize]> = indexed.iter().map(Vec::as_slice).collect();
        let pad = self.vocab.pad_index();
        let (report, pred) = crate::eval::evaluate(
            &self.model,
            &self.e_v,
            pad,
            self.config.max_len,
            &refs,
            self.batch_size,
        )?;
        let ids = pred
            .iter()
            .map(|p| {
                until_pad(p, pad)
                    .iter()
                    .map(|&i| self.vocab.ids()[i])
                    .collect()
            })
            .collect();
        Ok((report, ids))
    }
}

/// A lower bound on the number of weights of the model `config` describes: its weight
/// matrices and position embeddings (biases and norms left out), saturating on overflow.
fn weight_count_lower_bound(config: &CllmConfig) -> u64 {
    let mul = |a: usize, b: usize| (a as u64).saturating_mul(b as u64);
    // the encoder: input projection, stages, flatten to k
    let mut encoder = mul(config.input_width, config.width).saturating_add(
        mul(config.top_positions(), config.top_width()).saturating_mul(config.k as u64),
    );
    for (s, st) in config.stages.iter().enumerate() {
        let w = config.stage_width(s);
        encoder = encoder.saturating_add(mul(st.merge, w).saturating_mul(st.width_out as u64));
        if st.layers > 0 {
            // per layer: Q, K, V, O (4 w²) and the feed-forward pair (2 · ffn_mult · w²),
            // plus the position embedding
            let per_layer = mul(w, w)
                .saturating_mul((config.ffn_mult as u64).saturating_mul(2).saturating_add(4));
            encoder = encoder.saturating_add(
                per_layer
                    .saturating_mul(st.layers as u64)
                    .saturating_add(mul(config.stage_positions(s), w)),
            );
        }
    }
    let decoder = match &config.decoder {
        // the mirror has the encoder's matrices, transposed
        crate::config::DecoderConfig::Mirror => encoder,
        crate::config::DecoderConfig::Autoregressive(ar) => {
            let w = ar.width;
            // token and output projections, prefix and added vector, positions, layers
            // (QKV and output 4 w², feed-forward 8 w²)
            mul(config.input_width, w)
                .saturating_mul(2)
                .saturating_add(mul(config.k, w).saturating_mul(ar.prefix as u64 + 1))
                .saturating_add(mul(ar.prefix + config.max_len + 1, w))
                .saturating_add(
                    mul(w, w)
                        .saturating_mul(12)
                        .saturating_mul(ar.layers as u64),
                )
        }
    };
    encoder.saturating_add(decoder)
}

/// Writes `config.json`, `model.mpk` and `vocab.safetensors` into `dir`, atomically.
pub(crate) fn save_model_dir<B: Backend>(
    dir: &Path,
    config: &CllmConfig,
    model: &CllmModel<B>,
    vocab: &VocabTable,
) -> Result<()> {
    let bytes = persist::record_bytes::<B, _>(model.clone().into_record())?;
    persist::write_dir_atomic(dir, |tmp| {
        persist::write_json(&tmp.join(files::CONFIG), config)?;
        persist::write_bytes(&tmp.join(files::MODEL), &bytes)?;
        vocab.save(&tmp.join(files::VOCAB))
    })
}
