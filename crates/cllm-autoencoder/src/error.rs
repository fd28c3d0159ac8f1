//! The typed error of this crate.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when building, training or using a CLLM.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AutoencoderError {
    /// The hyper-parameters do not describe a buildable model or run.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// An input that must not be empty was empty (a batch, a text, a corpus split).
    #[error("empty input: {0}")]
    Empty(&'static str),
    /// A token matrix or text vector of the wrong width.
    #[error("wrong width for {what}: expected {expected}, got {got}")]
    WrongWidth {
        /// What was checked.
        what: &'static str,
        /// The width the model expects.
        expected: usize,
        /// The width given.
        got: usize,
    },
    /// A text longer than the model's `max_len`.
    #[error("text {index} has {len} tokens, more than the model's maximum of {max}")]
    TooLong {
        /// Position of the text in the batch.
        index: usize,
        /// Its length in tokens.
        len: usize,
        /// The model's `max_len`.
        max: usize,
    },
    /// A corpus text longer than the model's `max_len` tokens, refused
    /// ([`OverLength::Refuse`](crate::OverLength), `--strict`) instead of cut.
    #[error("text {id:?} has {tokens} tokens, more than the model's {max_len}; refused (strict), not cut")]
    TextOverLength {
        /// The document's id.
        id: String,
        /// Its length in tokens.
        tokens: usize,
        /// The model's `max_len`.
        max_len: usize,
    },
    /// A NaN or infinite value in an input or output.
    #[error("non-finite value in {0}")]
    NonFinite(&'static str),
    /// A token id that the vocabulary table does not hold.
    #[error("token id {0} is not in the model's vocabulary table")]
    UnknownToken(u32),
    /// A language-model weight λ of shallow fusion that is negative or not a number.
    #[error("the language-model weight λ = {0} must be a finite number ≥ 0")]
    LmWeight(f32),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file had unexpected contents.
    #[error("{path}: {detail}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// A saved weight tensor whose shape differs from the one the model's config implies
    /// (a model directory whose `config.json` and `model.mpk` do not belong together).
    #[error("{}: tensor `{tensor}` has shape {got:?}, the config implies {expected:?}", path.display())]
    WeightShape {
        /// The record file.
        path: PathBuf,
        /// The tensor's path in the module tree (`enc_stages.0.reduce.weight`).
        tensor: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        got: Vec<usize>,
    },
    /// The backbone failed (tokenizing, embedding).
    #[error(transparent)]
    Backbone(#[from] cllm_core::CoreError),
    /// A burn tensor could not be read back.
    #[error("reading a tensor back: {0}")]
    Tensor(String),
    /// The run was interrupted (the stop flag was set); a checkpoint was written.
    #[error("interrupted at step {step}; resume from {checkpoint}")]
    Interrupted {
        /// The last completed step.
        step: usize,
        /// The checkpoint to resume from.
        checkpoint: PathBuf,
    },
}

impl AutoencoderError {
    /// An I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AutoencoderError::Io {
            path: path.into(),
            source,
        }
    }

    /// A format error with its path.
    pub fn format(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        AutoencoderError::Format {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

impl From<cllm_core::VectorFileError> for AutoencoderError {
    /// A vector file's error: [`AutoencoderError::Io`] when it could not be read or
    /// written, [`AutoencoderError::Format`] for anything about its contents.
    fn from(e: cllm_core::VectorFileError) -> Self {
        use cllm_core::VectorFileError as E;
        match e {
            E::Io { path, source } => AutoencoderError::Io { path, source },
            E::TooLarge { ref path, .. }
            | E::Malformed { ref path, .. }
            | E::NonFinite { ref path, .. } => {
                let path = path.clone();
                let detail = e.to_string();
                let detail = detail
                    .strip_prefix(&format!("{}: ", path.display()))
                    .unwrap_or(&detail)
                    .to_string();
                AutoencoderError::Format { path, detail }
            }
            other => AutoencoderError::Format {
                path: std::path::PathBuf::new(),
                detail: other.to_string(),
            },
        }
    }
}

/// Result alias with [`AutoencoderError`].
pub type Result<T, E = AutoencoderError> = std::result::Result<T, E>;
