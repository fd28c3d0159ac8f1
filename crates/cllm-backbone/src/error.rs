use std::path::{Path, PathBuf};

use cllm_core::CoreError;
use thiserror::Error;

use crate::device::DeviceError;

/// Errors of the backbone adapters.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BackboneError {
    /// The model file could not be read or parsed.
    #[error(transparent)]
    Gguf(#[from] cllm_gguf::GgufError),
    /// The model's architecture is not supported by this adapter.
    #[error("unsupported architecture {0:?}: this adapter loads llama-architecture models")]
    UnsupportedArchitecture(String),
    /// The hyper-parameters in the file do not describe a buildable model.
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    /// A weight tensor is absent from the file.
    #[error("missing tensor {0:?}")]
    MissingTensor(String),
    /// A weight tensor has a shape other than the configuration implies.
    #[error("tensor {name:?} has shape {got:?}, expected {expected:?}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// Shape implied by the configuration (row-major).
        expected: Vec<usize>,
        /// Shape in the file (row-major).
        got: Vec<usize>,
    },
    /// A weight tensor holds NaN or infinite values.
    #[error("tensor {0:?} holds non-finite values")]
    NonFiniteWeight(String),
    /// A model file (e.g. `config.json`, `tokenizer.json`, `model.safetensors`) does not exist.
    #[error("missing file {}", path.display())]
    MissingFile {
        /// The file that was looked for.
        path: PathBuf,
    },
    /// A model file exists but could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A safetensors file is malformed (bad header, offsets, truncated data, …).
    #[error("safetensors: {0}")]
    Safetensors(String),
    /// A weight tensor is stored in a dtype the loader does not convert.
    #[error("tensor {name:?} has unsupported dtype {dtype}")]
    UnsupportedDtype {
        /// Tensor name.
        name: String,
        /// The dtype in the file.
        dtype: String,
    },
    /// The file names a special token (BOS, EOS, padding, …) by an id outside its
    /// vocabulary.
    #[error("{key} = {id} is outside the vocabulary of {vocab} tokens")]
    SpecialTokenOutOfRange {
        /// The metadata key (`tokenizer.ggml.eos_token_id`).
        key: String,
        /// The id it names.
        id: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// The tokenizer could not be built or failed on an input.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// No compute device.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A shared-type error (empty input, too long, bad layer, …).
    #[error(transparent)]
    Core(#[from] CoreError),
}

impl BackboneError {
    /// Wraps an I/O error on `path`: [`BackboneError::MissingFile`] when the file does not
    /// exist, [`BackboneError::Io`] otherwise.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        if source.kind() == std::io::ErrorKind::NotFound {
            BackboneError::MissingFile { path }
        } else {
            BackboneError::Io { path, source }
        }
    }
}

impl From<BackboneError> for CoreError {
    fn from(e: BackboneError) -> Self {
        match e {
            BackboneError::Core(inner) => inner,
            other => CoreError::backend(other),
        }
    }
}
