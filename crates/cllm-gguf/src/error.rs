//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading, validating, dequantising or writing a
/// GGUF file.
///
/// Every parse failure of an untrusted file maps to one of these variants; the reader
/// never panics and never allocates more than the file could possibly describe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// An I/O error while opening, mapping or writing a file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file does not start with the `GGUF` magic.
    #[error("not a GGUF file: bad magic {found:02x?} (expected \"GGUF\")")]
    BadMagic {
        /// The first (up to) four bytes of the file.
        found: Vec<u8>,
    },

    /// The file is a big-endian GGUF file; only little-endian files are supported.
    #[error("big-endian GGUF (version {version}) is not supported")]
    BigEndian {
        /// The version as read big-endian.
        version: u32,
    },

    /// The GGUF version is not 2 or 3.
    #[error("unsupported GGUF version {version} (supported: 2, 3)")]
    UnsupportedVersion {
        /// The version found in the header.
        version: u32,
    },

    /// The file ended before a field could be read.
    #[error("file truncated while reading {what} at offset {offset}: need {needed} bytes, {available} left")]
    Truncated {
        /// What was being read.
        what: String,
        /// Byte offset of the read.
        offset: u64,
        /// Bytes needed.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },

    /// A count (tensors, KV pairs, array elements) is larger than the rest of the file
    /// could possibly hold.
    #[error("{what} count {count} is impossible: at most {max} fit in the remaining bytes")]
    CountTooLarge {
        /// What was counted.
        what: String,
        /// The count found in the file.
        count: u64,
        /// The most that could fit in the remaining bytes.
        max: u64,
    },

    /// A string length is larger than the remaining bytes of the file.
    #[error("{what}: string length {len} exceeds the {remaining} remaining bytes")]
    StringTooLong {
        /// Where the string is.
        what: String,
        /// The declared length.
        len: u64,
        /// Bytes left in the file.
        remaining: u64,
    },

    /// A string is not valid UTF-8.
    #[error("{what}: string at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the string is.
        what: String,
        /// Byte offset of the string data.
        offset: u64,
    },

    /// A metadata value has an unknown type id.
    #[error("metadata key {key:?}: unknown value type id {type_id}")]
    InvalidValueType {
        /// The key whose value is bad.
        key: String,
        /// The type id found.
        type_id: u32,
    },

    /// Metadata arrays are nested deeper than the reader allows.
    #[error("metadata key {key:?}: arrays nested deeper than {max_depth}")]
    NestingTooDeep {
        /// The key whose value is bad.
        key: String,
        /// The deepest nesting allowed.
        max_depth: usize,
    },

    /// The same metadata key occurs twice.
    #[error("duplicate metadata key {key:?}")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },

    /// `general.alignment` is zero, not a power of two, or of the wrong type.
    #[error("invalid general.alignment: {detail}")]
    InvalidAlignment {
        /// What is wrong with it.
        detail: String,
    },

    /// Two tensors share a name.
    #[error("duplicate tensor name {tensor:?}")]
    DuplicateTensor {
        /// The repeated name.
        tensor: String,
    },

    /// A tensor has zero or more than four dimensions.
    #[error("tensor {tensor:?}: invalid number of dimensions {n_dims} (must be 1..=4)")]
    InvalidDimCount {
        /// The tensor's name.
        tensor: String,
        /// The number of dimensions found.
        n_dims: u32,
    },

    /// A tensor has a zero-sized dimension.
    #[error("tensor {tensor:?}: zero-sized dimension in {dims:?}")]
    ZeroDim {
        /// The tensor's name.
        tensor: String,
        /// Its dimensions, GGUF order.
        dims: Vec<u64>,
    },

    /// The product of a tensor's dimensions (or its byte size) overflows.
    #[error("tensor {tensor:?}: element count or byte size of dims {dims:?} overflows")]
    ElementCountOverflow {
        /// The tensor's name.
        tensor: String,
        /// Its dimensions, GGUF order.
        dims: Vec<u64>,
    },

    /// A tensor's type id is unknown, or the type cannot be dequantised by this crate.
    #[error("tensor {tensor:?}: unsupported ggml type id {type_id}")]
    UnsupportedType {
        /// The tensor's name.
        tensor: String,
        /// The ggml type id.
        type_id: u32,
    },

    /// A tensor's innermost dimension is not a multiple of its type's block size.
    #[error("tensor {tensor:?}: innermost dimension {ne0} is not a multiple of the block size {block_size} of {ggml_type}")]
    NotBlockMultiple {
        /// The tensor's name.
        tensor: String,
        /// The innermost dimension.
        ne0: u64,
        /// The block size of the tensor's type.
        block_size: u64,
        /// The type's name.
        ggml_type: String,
    },

    /// A tensor's offset is not a multiple of the file's alignment.
    #[error("tensor {tensor:?}: offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedOffset {
        /// The tensor's name.
        tensor: String,
        /// The offset, relative to the start of the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },

    /// A tensor's data lies (partly) outside the file.
    #[error("tensor {tensor:?}: data [{offset}, {offset}+{size}) is outside the {data_len}-byte data section")]
    TensorOutOfBounds {
        /// The tensor's name.
        tensor: String,
        /// The offset, relative to the start of the data section.
        offset: u64,
        /// The tensor's size in bytes.
        size: u64,
        /// The size of the data section.
        data_len: u64,
    },

    /// Two tensors' data ranges overlap.
    #[error("tensors {first:?} and {second:?} overlap in the data section")]
    OverlappingTensors {
        /// One tensor.
        first: String,
        /// The other.
        second: String,
    },

    /// A metadata key that was asked for is absent.
    #[error("metadata key {key:?} is missing")]
    MissingKey {
        /// The key.
        key: String,
    },

    /// A metadata value has a different type than asked for.
    #[error("metadata key {key:?}: expected {expected}, found {found}")]
    WrongType {
        /// The key.
        key: String,
        /// The type asked for.
        expected: String,
        /// The type found.
        found: String,
    },

    /// An integer metadata value does not fit the type asked for.
    #[error("metadata key {key:?}: value {value} does not fit in {target}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The value found, printed.
        value: String,
        /// The type asked for.
        target: String,
    },

    /// No tensor has the name asked for.
    #[error("no tensor named {name:?}")]
    TensorNotFound {
        /// The name asked for.
        name: String,
    },

    /// Writer: the data given does not match the shape given.
    #[error("tensor {tensor:?}: {detail}")]
    InvalidTensorData {
        /// The tensor's name.
        tensor: String,
        /// What is wrong.
        detail: String,
    },

    /// Writer: a metadata key or value cannot be written (duplicate key, bad
    /// alignment value).
    #[error("metadata key {key:?}: {detail}")]
    InvalidMetadata {
        /// The key.
        key: String,
        /// What is wrong.
        detail: String,
    },

    /// Writer: the type cannot be quantised by this crate.
    #[error("tensor {tensor:?}: quantising to {ggml_type} is not supported by the writer")]
    UnsupportedQuantization {
        /// The tensor's name.
        tensor: String,
        /// The type's name.
        ggml_type: String,
    },
}

/// Shorthand for `Result<T, GgufError>`.
pub type Result<T, E = GgufError> = std::result::Result<T, E>;
