//! # cllm-core
//!
//! The shared vocabulary of **cllm** (Convolution LLM and void zones). Every other
//! crate of the workspace, and every project that builds on it, speaks in these types:
//!
//! - [`TokenMatrix`]: a text as a `[L × d]` matrix of token embeddings (one row per token),
//!   as produced by a [`Backbone`] at some layer.
//! - [`TextVector`]: a whole text folded into one small vector (8–64 floats) by a CLLM.
//! - [`Document`]: a corpus text with a stable id and key/value tags (`family=pizza`).
//! - [`Backbone`]: a pretrained language model that turns text into a [`TokenMatrix`] and a
//!   [`TokenMatrix`] back into token ids and text.
//! - [`CodeShape`]: how many independent directions a set of text vectors uses (the
//!   spectrum of their covariance).
//! - [`CoreError`]: the typed error of all of the above.
//! - [`VectorFile`]: the one file format for ids with their vectors, shared by every
//!   command that writes or reads vectors ([`vector_file`] documents it).
//!
//! This crate holds no model code and no heavy dependencies (safetensors for the vector
//! file format).
//!
//! ```
//! use cllm_core::{TokenMatrix, TextVector};
//! let m = TokenMatrix::new(2, 3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0])?;
//! assert_eq!(m.shape(), (2, 3));
//! assert_eq!(m.row(1), &[0.0, 1.0, 0.0]);
//! let v = TextVector::new(vec![0.5; 16])?;
//! assert_eq!(v.dim(), 16);
//! # Ok::<(), cllm_core::CoreError>(())
//! ```
#![deny(missing_docs)]

mod atomic;
mod backbone;
mod content_key;
mod document;
mod error;
mod folder_lock;
mod language_model;
mod matrix;
pub mod safe_text;
mod sentence;
pub mod shape;
mod vector;
pub mod vector_file;

pub use atomic::{write_atomic, write_atomic_set};
pub use backbone::{Backbone, DecodeStrategy};
pub use content_key::{ContentKey, KeyBuilder};
pub use document::Document;
pub use error::CoreError;
pub use folder_lock::FolderLock;
pub use language_model::{perplexity, Continuations, ContinuationsStart, LanguageModel};
pub use matrix::TokenMatrix;
pub use sentence::SentenceEncoder;
pub use shape::CodeShape;
pub use vector::TextVector;
pub use vector_file::{ExtraTensor, VectorFile, VectorFileError, VECTOR_FILE_FORMAT};

/// Result alias with [`CoreError`].
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
