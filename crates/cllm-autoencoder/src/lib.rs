//! # cllm-autoencoder
//!
//! The CLLM of **cllm**: a staged transformer autoencoder that folds a text's whole
//! layer-0 token matrix `[L × d]` into one text vector of `k` floats (8–64) and a mirrored
//! decoder that restores the matrix, so that the backbone turns it back into the text.
//! Written in [burn], generic over the backend: burn's Flex CPU backend by default (feature
//! `flex`), NdArray with `--no-default-features --features ndarray`, wgpu and CUDA behind
//! the `wgpu` / `cuda` features ([`DefaultTrainBackend`] follows the features, which are
//! forwarded to `cllm-backend`, where the backend is defined once). The examples below use
//! NdArray, which the tests build in any configuration. The crate meets the backbone only
//! through [`cllm_core::Backbone`] (its tokenizer, embedding table and token lookup).
//!
//! - [`config`]: the architecture as data ([`CllmConfig`], presets k = 8, 16, 32, 64 and
//!   reduced CPU presets, per-stage size report);
//! - [`model`]: the network ([`CllmModel`]);
//! - [`loss`]: tied-head cross-entropy over the corpus vocabulary + MSE, optional cosine,
//!   clustering and smoothness terms;
//! - [`vocab`]: the corpus vocabulary with its embedding rows ([`VocabTable`]);
//! - [`cache`]: the corpus tokenized once ([`TokenCache`]) and its seeded split;
//! - [`batch`]: length-bucketed seeded batching;
//! - [`train`](mod@train): the training loop with checkpoints, resume and fine-tuning;
//! - [`eval`]: token accuracy and exact-text rate;
//! - [`codec`]: [`Cllm`], the `encode` / `decode` API on [`TokenMatrix`](cllm_core::TokenMatrix)
//!   and [`TextVector`](cllm_core::TextVector);
//! - [`export`]: `cllm encode` for a corpus, vector files ([`VectorFile`], the shared format
//!   of [`cllm_core::vector_file`]);
//! - [`semantic`]: sentence embeddings for the semantic alignment term;
//! - [`job`]: the whole `cllm train` job (corpus → cache → training → per-split report).
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use cllm_autoencoder::{CachedText, CllmConfig, RunControl, StageConfig, TokenCache, TrainData, TrainOptions, train};
//!
//! // a toy corpus: 8 texts over a 12-token vocabulary with 4-wide embeddings
//! let table: Vec<f32> = (0..12 * 4).map(|v| ((v * 7 % 11) as f32 - 5.0) / 5.0).collect();
//! let texts = (0..8).map(|i| CachedText { id: format!("t{i}"), family: None, ids: vec![1 + i as u32, 2, 3], full_len: 3 }).collect();
//! let cache = TokenCache::from_texts("toy", 8, 0, texts)?;
//! let data = TrainData::new(cache, None, &table, 4)?;
//! let opts = TrainOptions {
//!     model: CllmConfig::new(4, 8, 8, 4, vec![StageConfig::new(1, 4, 4)]).with_heads(2),
//!     batch_size: 4, max_steps: 3, warmup_steps: 1, eval_every: 0, progress: false,
//!     ..Default::default()
//! };
//! let dir = tempfile::tempdir()?;
//! let report = train::<Autodiff<NdArray>>(&data, &opts, dir.path(), &Default::default(), &RunControl::default())?;
//! assert_eq!(report.steps, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod ar;
pub mod batch;
pub mod cache;
pub mod code_fit;
pub mod code_shape;
pub mod codec;
pub mod config;
pub mod decoding;
mod error;
pub mod eval;
pub mod export;
pub mod head_ce;
pub mod job;
pub mod lookup;
pub mod loss;
pub mod model;
mod persist;
pub mod semantic;
pub mod text_metrics;
pub mod train;
pub mod vocab;

pub use ar::ArDecoder;
pub use cache::{
    CacheBuildReport, CacheSpec, CachedText, OverLength, Split, SplitOptions, TokenCache,
    CHUNK_TEXTS,
};
pub use codec::{Cllm, GeneratedText};
pub use config::{ArDecoderConfig, CllmConfig, DecoderConfig, StageConfig, StageSummary};
pub use decoding::{DecodeOptions, DecodedTokens, LanguageGuide, Search};
pub use error::{AutoencoderError, Result};
pub use eval::{evaluate, EvalReport};
pub use export::{encode_corpus, read_vectors, write_vector_file, write_vectors, VectorFile};
pub use job::{
    prepare_data_dir, run_prepared_train_job, run_train_job, FamilySeparation, FreeRunning,
    JobReport, PreparedData, SplitResult, TrainJob,
};
pub use loss::{LossConfig, DEFAULT_DECOR_WEIGHT};
pub use model::{CllmModel, Decoder, MirrorDecoder};
pub use train::{
    saved_run_options, train, RunControl, StopReason, TrainData, TrainOptions, TrainReport,
    TrainState,
};
pub use vocab::VocabTable;

/// The CPU training backend: autodiff over `cllm-backend`'s
/// [`CpuBackend`](cllm_backend::CpuBackend) (Flex by default, NdArray without `flex`).
#[cfg(any(feature = "flex", feature = "ndarray"))]
pub type CpuTrainBackend = burn::backend::Autodiff<cllm_backend::CpuBackend>;

/// The training backend picked by cargo features (`cuda` > `wgpu` > `flex` > `ndarray`):
/// autodiff over `cllm-backend`'s [`DefaultBackend`](cllm_backend::DefaultBackend).
pub type DefaultTrainBackend = burn::backend::Autodiff<cllm_backend::DefaultBackend>;
