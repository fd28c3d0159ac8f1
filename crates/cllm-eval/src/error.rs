//! The typed error of this crate.

use thiserror::Error;

/// Everything that can go wrong while generating and scoring texts.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EvalError {
    /// Bad options or input (an unknown sampler, no reference texts, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The CLLM failed (a vector of the wrong width, a damaged model).
    #[error(transparent)]
    Autoencoder(#[from] cllm_autoencoder::AutoencoderError),
    /// The vector geometry failed (a point of the wrong dimension, NaN).
    #[error(transparent)]
    Void(#[from] cllm_void::VoidError),
    /// The backbone failed (tokenizing, scoring).
    #[error(transparent)]
    Core(#[from] cllm_core::CoreError),
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// This crate's result.
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
