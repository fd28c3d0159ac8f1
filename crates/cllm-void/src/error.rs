use thiserror::Error;

/// The error of every fallible operation of this crate.
///
/// ```
/// use cllm_void::{PointSet, VoidError};
/// let err = PointSet::new(2, vec![1.0, f32::NAN]).unwrap_err();
/// assert!(matches!(err, VoidError::NonFinite { index: 1, .. }));
/// ```
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VoidError {
    /// A vector's dimension did not match the collection's or the index's.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimMismatch {
        /// The expected dimension.
        expected: usize,
        /// The dimension that was given.
        got: usize,
    },
    /// A vector held a NaN or infinite value.
    #[error("non-finite value in {what} at flat index {index}")]
    NonFinite {
        /// What held the value.
        what: &'static str,
        /// Flat index of the first offending value.
        index: usize,
    },
    /// An argument outside its valid range (k = 0, an empty point set, a bad option).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Too few points for the requested operation.
    #[error("too few points: need at least {need}, got {got}")]
    TooFewPoints {
        /// The minimum needed.
        need: usize,
        /// The number available.
        got: usize,
    },
    /// No collection of that name in the store.
    #[error("no collection named {0:?}")]
    CollectionNotFound(String),
    /// A collection of that name exists but was produced by another model.
    #[error("collection {name:?} belongs to model {existing}, not {requested}")]
    ModelMismatch {
        /// The collection name.
        name: String,
        /// The model recorded in the store.
        existing: String,
        /// The model that was asked for.
        requested: String,
    },
    /// A document id already stored with a different vector or text.
    #[error("document {id:?} is already stored with different content")]
    ConflictingDocument {
        /// The document id.
        id: String,
    },
    /// A file or store that does not follow the expected layout.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// An error of the SQLite store.
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// An I/O error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A JSON (de)serialisation error.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A safetensors (de)serialisation error.
    #[error("safetensors: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// An error of the shared types.
    #[error(transparent)]
    Core(#[from] cllm_core::CoreError),
}

/// Result alias with [`VoidError`].
pub type Result<T, E = VoidError> = std::result::Result<T, E>;
