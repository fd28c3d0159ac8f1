use thiserror::Error;

/// The error of the shared types and of the [`Backbone`](crate::Backbone) trait.
///
/// Adapter crates have their own, richer error types; they convert into
/// [`CoreError::Backend`] at the trait boundary so that callers generic over a
/// backbone can still match on the common cases.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CoreError {
    /// An input that must not be empty was empty (a text, a matrix, a vector).
    #[error("empty input: {what}")]
    Empty {
        /// What was empty.
        what: &'static str,
    },
    /// A tensor's shape did not match what was expected.
    #[error("shape mismatch for {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// What was being checked.
        what: &'static str,
        /// The expected shape, human readable.
        expected: String,
        /// The shape that was given.
        got: String,
    },
    /// A value was NaN or infinite.
    #[error("non-finite value in {what} at index {index}")]
    NonFinite {
        /// What held the value.
        what: &'static str,
        /// Flat index of the first offending value.
        index: usize,
    },
    /// A text is longer (in tokens) than the model's context.
    #[error("input of {len} tokens exceeds the maximum of {max}")]
    TooLong {
        /// Number of tokens of the input.
        len: usize,
        /// The model's maximum.
        max: usize,
    },
    /// A layer index beyond the model's depth.
    #[error("layer {layer} out of range: the model has layers 0..={max}")]
    LayerOutOfRange {
        /// Requested layer.
        layer: usize,
        /// The largest valid layer (the number of transformer blocks).
        max: usize,
    },
    /// A token id outside the vocabulary.
    #[error("token id {id} out of range for a vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The offending id.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// Another process (or another lock in this one) is writing the folder.
    #[error("{} is in use by another cllm process{}; wait for it to end, or write elsewhere", folder.display(), pid.map_or(String::new(), |p| format!(" (pid {p})")))]
    FolderBusy {
        /// The folder.
        folder: std::path::PathBuf,
        /// The holder's pid, as it recorded it.
        pid: Option<u32>,
    },

    /// A file or folder could not be read or written.
    #[error("{}: {message}", path.display())]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },

    /// A decode strategy that the backbone does not support for this input.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Any other failure inside a backbone or adapter.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl CoreError {
    /// Wraps any error as [`CoreError::Backend`].
    pub fn backend<E: std::error::Error + Send + Sync + 'static>(err: E) -> Self {
        CoreError::Backend(Box::new(err))
    }
}

/// Returns the index of the first non-finite value, if any.
pub(crate) fn first_non_finite(values: &[f32]) -> Option<usize> {
    values.iter().position(|v| !v.is_finite())
}
