//! # cllm-backbone
//!
//! Pretrained LLM backbones for cllm, written in [burn] and generic over its backends.
//! The first adapter, [`LlamaBackbone`], loads any llama-architecture model from a GGUF
//! file (llama.cpp's format; SmolLM2, TinyLlama, Llama 2/3 …): weights are dequantised to
//! f32 on load, the tokenizer is rebuilt from the file's metadata, and nothing is fetched
//! from a model hub.
//!
//! - [`llama::model`]: the transformer in burn (`#[derive(Module)]`), names as in Hugging Face
//!   checkpoints;
//! - [`llama::loader`]: GGUF tensor names onto the module tree, incl. undoing llama.cpp's
//!   Q/K row permutation;
//! - [`tokenizer`]: byte-level BPE from `tokenizer.ggml.*` metadata;
//! - [`bert`]: a BERT encoder in burn and its safetensors loader, behind [`MiniLm`], the
//!   all-MiniLM-L6-v2 sentence encoder (mean pooling + L2 normalisation, as
//!   sentence-transformers); [`LayerMeanPool`] turns a [`LlamaBackbone`] layer into a
//!   sentence encoder too (both implement [`cllm_core::SentenceEncoder`]);
//! - [`device`]: the backend picked by cargo feature (`flex`, `ndarray`, `wgpu`, `cuda`) and a
//!   device constructor that returns an error instead of panicking or hanging: the
//!   `cllm-backend` crate, re-exported (the features of this crate forward to it).
//!
//! ## Layers and decoding
//!
//! `embed(text, layer)` returns the residual stream after `layer` blocks (layer 0 = token
//! embeddings). At layer 0, [`DecodeStrategy::NearestEmbedding`](cllm_core::DecodeStrategy)
//! is an exact inverse (every corpus text round-trips); the tied head's argmax is not (on
//! SmolLM2 it recovers ~81% of recipe tokens) but gives the vocabulary scores sampling
//! needs. At deeper layers there is no inverse: `HeadArgmax { final_norm: true }` is the
//! logit lens, and at the last layer it predicts the *next* token at each position. A CLLM
//! should therefore compress layer-0 matrices; decoding deeper matrices needs a learned
//! inverse (e.g. a small model trained to map layer-N states back to ids).
#![deny(missing_docs)]

mod backbone;
pub mod bert;
mod error;
mod language_model;
pub mod llama;
mod sentence;
pub mod tokenizer;
mod weights;

/// The compute backend chosen by cargo feature and its device constructor: the
/// `cllm-backend` crate, under its former name.
pub use cllm_backend as device;

pub use backbone::{tokenizer_spec, LlamaBackbone};
pub use error::BackboneError;
pub use sentence::{LayerMeanPool, MiniLm};
