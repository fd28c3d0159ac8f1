//! The one file format of **cllm** for "ids + vectors": what `cllm encode --safetensors`,
//! `cllm store export` / `import`, `cllm sentence` and the `cllm embed` shards write and
//! read, so that what one command writes the next can read.
//!
//! A vector file is a [safetensors](https://docs.rs/safetensors) file (readable from numpy
//! and PyTorch) with, for `n` rows of width `dim`:
//!
//! | tensor | dtype, shape | meaning |
//! |---|---|---|
//! | `vectors` | F32 `[n, dim]` | row `i` is the vector of id `i` |
//! | `ids_utf8` | U8 `[bytes]` | all ids concatenated as UTF-8 |
//! | `ids_offsets` | I64 `[n + 1]` | id `i` is `ids_utf8[offsets[i]..offsets[i+1]]` |
//!
//! and in the metadata `format` = [`VECTOR_FILE_FORMAT`], `dim`, and free key/value pairs
//! ([`VectorFile::metadata`]) saying what made the vectors. The commands use `model` (the
//! producing model's name) and `checksum` (of its weights), which `cllm store import` needs
//! to file the vectors under their model, plus their own keys (`collection`, `layer`, …).
//! Other tensors may follow (the `cllm embed` shards add their token ids and matrices); a
//! reader ignores them.
//!
//! Rules, checked on write and on read (an untrusted file gets a [`VectorFileError`], never a
//! panic): at least one column; ids non-empty UTF-8; offsets starting at 0, non-decreasing,
//! ending at the byte count; every value finite; a file no larger than the reader's limit.
//!
//! Older files are still read: the `cllm-void/1` export (the same layout, `model_name`
//! read as `model`), the first `cllm encode --safetensors` files (`vectors` with the ids
//! as a JSON list in the metadata key `ids`) and the first `cllm embed` shards (the row
//! means `mean` with the ids in `doc_ids`).
//!
//! In Python:
//! ```text
//! from safetensors.numpy import load_file
//! t = load_file("vectors.safetensors"); v = t["vectors"]
//! o = t["ids_offsets"]; ids = [bytes(t["ids_utf8"][a:b]).decode() for a, b in zip(o[:-1], o[1:])]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use thiserror::Error;

/// The `format` metadata value of a vector file.
pub const VECTOR_FILE_FORMAT: &str = "cllm-vectors/1";

/// The `format` of the earlier `cllm store export` files (same layout), still read.
pub const LEGACY_STORE_FORMAT: &str = "cllm-void/1";

/// Files larger than this are refused by [`VectorFile::read`] (4 GiB).
pub const MAX_VECTOR_FILE_BYTES: u64 = 4 << 30;

/// The tensor names the format itself uses; extra tensors must not take them.
pub const RESERVED_TENSORS: [&str; 3] = ["vectors", "ids_utf8", "ids_offsets"];

/// Metadata keys the writer sets itself.
const RESERVED_KEYS: [&str; 2] = ["format", "dim"];

/// Why a vector file could not be read or written. Every variant names the file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VectorFileError {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than the reader's limit.
    #[error("{}: {size} bytes, more than the limit of {limit}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The contents do not follow the format (on read), or cannot be written in it.
    #[error("{}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A NaN or infinite value among the vectors.
    #[error("{}: non-finite value at flat index {index} (row {})", path.display(), index / (*dim).max(1))]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// Flat index of the first such value.
        index: usize,
        /// The row width.
        dim: usize,
    },
}

/// Ids with one vector each, and what made them: the contents of a vector file (see the
/// [module docs](self) for the format).
///
/// ```
/// use cllm_core::VectorFile;
/// let dir = std::env::temp_dir().join(format!("cllm-vf-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("v.safetensors");
/// let file = VectorFile::new(vec!["a".into(), "b".into()], 2, vec![1.0, 2.0, 3.0, 4.0])?
///     .with_metadata("model", "cllm-16");
/// file.write(&path)?;
/// let back = VectorFile::read(&path)?;
/// assert_eq!(back, file);
/// assert_eq!(back.row(1), &[3.0, 4.0]);
/// assert_eq!(back.metadata["model"], "cllm-16");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorFile {
    /// The ids, one per row.
    pub ids: Vec<String>,
    /// The row width.
    pub dim: usize,
    /// The rows, row-major `[ids.len() × dim]`.
    pub data: Vec<f32>,
    /// What made the vectors (`model`, `checksum`, …); `format` and `dim` are the writer's.
    pub metadata: BTreeMap<String, String>,
}

/// A tensor stored next to the vectors (e.g. the token ids of an embed shard).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtraTensor {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl ExtraTensor {
    fn new(name: &str, dtype: Dtype, shape: Vec<usize>, bytes: Vec<u8>) -> Self {
        Self {
            name: name.to_string(),
            dtype,
            shape,
            bytes,
        }
    }

    /// A u32 tensor of `shape` (row-major `values`).
    pub fn u32(name: &str, shape: Vec<usize>, values: &[u32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(name, Dtype::U32, shape, bytes)
    }

    /// An i64 tensor of `shape`.
    pub fn i64(name: &str, shape: Vec<usize>, values: &[i64]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(name, Dtype::I64, shape, bytes)
    }

    /// An f32 tensor of `shape`.
    pub fn f32(name: &str, shape: Vec<usize>, values: &[f32]) -> Self {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self::new(name, Dtype::F32, shape, bytes)
    }
}

impl VectorFile {
    /// Ids and their rows (row-major), checked: as many rows as ids, finite values, no
    /// empty id, `dim ≥ 1`. Errors name the file as `(in memory)`.
    pub fn new(ids: Vec<String>, dim: usize, data: Vec<f32>) -> Result<Self, VectorFileError> {
        let file = Self {
            ids,
            dim,
            data,
            metadata: BTreeMap::new(),
        };
        file.check(Path::new("(in memory)"))?;
        Ok(file)
    }

    /// The ids and vectors of `(document, vector)` pairs, checked like [`VectorFile::new`]
    /// (all vectors of one width).
    pub fn from_pairs(
        pairs: &[(crate::Document, crate::TextVector)],
    ) -> Result<Self, VectorFileError> {
        let dim = pairs.first().map_or(1, |(_, v)| v.dim());
        if let Some((d, v)) = pairs.iter().find(|(_, v)| v.dim() != dim) {
            return Err(VectorFileError::Malformed {
                path: PathBuf::from("(in memory)"),
                reason: format!("the vector of {:?} has {} values, not {dim}", d.id, v.dim()),
            });
        }
        Self::new(
            pairs.iter().map(|(d, _)| d.id.clone()).collect(),
            dim,
            pairs
                .iter()
                .flat_map(|(_, v)| v.as_slice().iter().copied())
                .collect(),
        )
    }

    /// Adds (or replaces) one metadata pair.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The row of the `i`-th id (panics if `i ≥ len()`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        // `dim ≥ 1` for any checked file; `max(1)` keeps a hand-built empty one harmless
        self.data.chunks_exact(self.dim.max(1))
    }

    /// Checks the invariants the format promises (see the module docs).
    fn check(&self, path: &Path) -> Result<(), VectorFileError> {
        let bad = |reason: String| VectorFileError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        if self.dim == 0 {
            return Err(bad("rows of width 0".into()));
        }
        if Some(self.data.len()) != self.ids.len().checked_mul(self.dim) {
            return Err(bad(format!(
                "{} values for {} ids of width {}",
                self.data.len(),
                self.ids.len(),
                self.dim
            )));
        }
        if let Some(i) = self.ids.iter().position(String::is_empty) {
            return Err(bad(format!("id {i} is empty")));
        }
        if let Some(index) = self.data.iter().position(|v| !v.is_finite()) {
            return Err(VectorFileError::NonFinite {
                path: path.to_path_buf(),
                index,
                dim: self.dim,
            });
        }
        Ok(())
    }

    /// The file's bytes, with `extra` tensors after the format's own.
    fn to_bytes(&self, path: &Path, extra: &[ExtraTensor]) -> Result<Vec<u8>, VectorFileError> {
        self.check(path)?;
        let bad = |reason: String| VectorFileError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(key) = RESERVED_KEYS
            .iter()
            .find(|k| self.metadata.contains_key(**k))
        {
            return Err(bad(format!("metadata key `{key}` is the writer's own")));
        }
        let mut names: Vec<&str> = RESERVED_TENSORS.to_vec();
        for t in extra {
            if names.contains(&t.name.as_str()) {
                return Err(bad(format!("tensor `{}` given twice", t.name)));
            }
            names.push(&t.name);
        }
        let vectors: Vec<u8> = self.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut utf8 = Vec::new();
        let mut offsets: Vec<u8> = Vec::with_capacity((self.ids.len() + 1) * 8);
        offsets.extend(0i64.to_le_bytes());
        for id in &self.ids {
            utf8.extend_from_slice(id.as_bytes());
            offsets.extend((utf8.len() as i64).to_le_bytes());
        }
        let st = |e: safetensors::SafeTensorError| bad(e.to_string());
        let n = self.ids.len();
        let mut tensors = vec![
            (
                "vectors",
                TensorView::new(Dtype::F32, vec![n, self.dim], &vectors).map_err(st)?,
            ),
            (
                "ids_utf8",
                TensorView::new(Dtype::U8, vec![utf8.len()], &utf8).map_err(st)?,
            ),
            (
                "ids_offsets",
                TensorView::new(Dtype::I64, vec![n + 1], &offsets).map_err(st)?,
            ),
        ];
        for t in extra {
            tensors.push((
                t.name.as_str(),
                TensorView::new(t.dtype, t.shape.clone(), &t.bytes).map_err(st)?,
            ));
        }
        let mut meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        meta.insert("format".into(), VECTOR_FILE_FORMAT.into());
        meta.insert("dim".into(), self.dim.to_string());
        safetensors::serialize(tensors, Some(meta)).map_err(st)
    }

    /// Writes the file atomically (temporary file + rename).
    pub fn write(&self, path: &Path) -> Result<(), VectorFileError> {
        self.write_with_tensors(path, &[])
    }

    /// Writes the file atomically with `extra` tensors after the format's own (their names
    /// must differ from [`RESERVED_TENSORS`] and from each other).
    pub fn write_with_tensors(
        &self,
        path: &Path,
        extra: &[ExtraTensor],
    ) -> Result<(), VectorFileError> {
        let bytes = self.to_bytes(path, extra)?;
        crate::write_atomic(path, &bytes).map_err(|source| VectorFileError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a vector file of at most [`MAX_VECTOR_FILE_BYTES`].
    pub fn read(path: &Path) -> Result<Self, VectorFileError> {
        Self::read_limited(path, MAX_VECTOR_FILE_BYTES)
    }

    /// Reads a vector file of at most `max_bytes`, checking everything (see the module
    /// docs); older layouts are read too.
    pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Self, VectorFileError> {
        let io = |source| VectorFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > max_bytes {
            return Err(VectorFileError::TooLarge {
                path: path.to_path_buf(),
                size,
                limit: max_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > max_bytes {
            return Err(VectorFileError::TooLarge {
                path: path.to_path_buf(),
                size: bytes.len() as u64,
                limit: max_bytes,
            });
        }
        Self::from_bytes(path, &bytes)
    }

    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, VectorFileError> {
        let bad = |reason: String| VectorFileError::Malformed {
            path: path.to_path_buf(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let mut metadata: BTreeMap<String, String> = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let format = metadata.remove("format");
        let (vectors_name, ids) = match format.as_deref() {
            Some(VECTOR_FILE_FORMAT) => ("vectors", ids_from_tensors(&st).map_err(bad)?),
            Some(LEGACY_STORE_FORMAT) => {
                if let Some(name) = metadata.remove("model_name") {
                    metadata.insert("model".into(), name);
                }
                ("vectors", ids_from_tensors(&st).map_err(bad)?)
            }
            Some(other) => {
                return Err(bad(format!(
                    "format {other:?}; this reader knows {VECTOR_FILE_FORMAT:?} and {LEGACY_STORE_FORMAT:?}"
                )))
            }
            // the first `cllm encode --safetensors` files and `cllm embed` shards
            None if metadata.contains_key("ids") => {
                let json = metadata.remove("ids").unwrap_or_default();
                ("vectors", ids_from_json(&json).map_err(bad)?)
            }
            None if metadata.contains_key("doc_ids") => {
                let json = metadata.remove("doc_ids").unwrap_or_default();
                ("mean", ids_from_json(&json).map_err(bad)?)
            }
            None => {
                return Err(bad(format!(
                    "not a vector file: no `format` metadata (expected {VECTOR_FILE_FORMAT:?})"
                )))
            }
        };
        let (data, [n, dim]) = f32_matrix(&st, vectors_name).map_err(bad)?;
        if n != ids.len() {
            return Err(bad(format!("{n} rows but {} ids", ids.len())));
        }
        if let Some(claimed) = metadata.remove("dim") {
            if claimed != dim.to_string() {
                return Err(bad(format!(
                    "metadata says dim {claimed}, the vectors are {dim} wide"
                )));
            }
        }
        let file = Self {
            ids,
            dim,
            data,
            metadata,
        };
        file.check(path)?;
        Ok(file)
    }
}

/// The ids of the `ids_utf8` / `ids_offsets` tensors.
fn ids_from_tensors(st: &SafeTensors<'_>) -> Result<Vec<String>, String> {
    let utf8 = st
        .tensor("ids_utf8")
        .map_err(|_| "no `ids_utf8` tensor".to_string())?;
    let offsets = st
        .tensor("ids_offsets")
        .map_err(|_| "no `ids_offsets` tensor".to_string())?;
    if utf8.dtype() != Dtype::U8 || utf8.shape().len() != 1 {
        return Err("`ids_utf8` must be U8 [bytes]".into());
    }
    if offsets.dtype() != Dtype::I64 || offsets.shape().len() != 1 || offsets.shape()[0] == 0 {
        return Err("`ids_offsets` must be I64 [n + 1]".into());
    }
    let text = utf8.data();
    let offsets: Vec<i64> = offsets
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    if offsets.first() != Some(&0) || offsets.last().map(|&e| e as u64) != Some(text.len() as u64) {
        return Err("`ids_offsets` must start at 0 and end at the byte count".into());
    }
    let mut ids = Vec::with_capacity(offsets.len() - 1);
    for w in offsets.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a < 0 || b < a || b as u64 > text.len() as u64 {
            return Err("`ids_offsets` must be non-decreasing and within the bytes".into());
        }
        let id = std::str::from_utf8(&text[a as usize..b as usize])
            .map_err(|_| format!("id {} is not UTF-8", ids.len()))?;
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// Ids stored as a JSON list of strings (older files).
fn ids_from_json(json: &str) -> Result<Vec<String>, String> {
    serde_json::from_str(json).map_err(|e| format!("ids: {e}"))
}

/// A 2-d F32 tensor: its values (row-major) and `[rows, cols]`.
fn f32_matrix(st: &SafeTensors<'_>, name: &str) -> Result<(Vec<f32>, [usize; 2]), String> {
    let view = st.tensor(name).map_err(|_| format!("no `{name}` tensor"))?;
    let shape = match (view.dtype(), view.shape()) {
        (Dtype::F32, [r, c]) => [*r, *c],
        (dtype, shape) => {
            return Err(format!(
                "`{name}` is {dtype:?} {shape:?}, expected a 2-d F32 tensor"
            ))
        }
    };
    let expected = shape[0]
        .checked_mul(shape[1])
        .and_then(|x| x.checked_mul(4));
    if expected != Some(view.data().len()) {
        return Err(format!("`{name}` data does not match its shape"));
    }
    let values = view
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((values, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cllm-vf-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("v.safetensors")
    }

    fn sample() -> VectorFile {
        VectorFile::new(
            vec!["é1".into(), "b".into(), "c c".into()],
            2,
            vec![1.0, -2.0, 0.5, 0.25, 3.0, 4.0],
        )
        .unwrap()
        .with_metadata("model", "m")
        .with_metadata("checksum", "x")
    }

    #[test]
    fn round_trip_with_extra_tensors() {
        let path = temp("extra");
        let file = sample();
        let extra = [
            ExtraTensor::u32("token_ids", vec![3], &[1, 2, 3]),
            ExtraTensor::i64("token_offsets", vec![4], &[0, 1, 2, 3]),
        ];
        file.write_with_tensors(&path, &extra).unwrap();
        assert_eq!(VectorFile::read(&path).unwrap(), file);
        // an extra tensor may not take a reserved name, nor a metadata key the writer's
        let clash = [ExtraTensor::f32("vectors", vec![1], &[1.0])];
        assert!(matches!(
            file.write_with_tensors(&path, &clash),
            Err(VectorFileError::Malformed { .. })
        ));
        assert!(file.clone().with_metadata("dim", "7").write(&path).is_err());
    }

    #[test]
    fn invalid_contents_are_refused_on_write() {
        let path = temp("invalid");
        let bad = |f: VectorFile| f.write(&path).expect_err("must be refused");
        let mut f = sample();
        f.data.pop();
        assert!(matches!(bad(f), VectorFileError::Malformed { .. }));
        let mut f = sample();
        f.data[3] = f32::INFINITY;
        assert!(matches!(
            bad(f),
            VectorFileError::NonFinite { index: 3, .. }
        ));
        let mut f = sample();
        f.ids[1].clear();
        assert!(matches!(bad(f), VectorFileError::Malformed { .. }));
        assert!(VectorFile::new(vec![], 0, vec![]).is_err());
        // an empty file of some width is fine
        VectorFile::new(vec![], 3, vec![])
            .unwrap()
            .write(&path)
            .unwrap();
        assert!(VectorFile::read(&path).unwrap().is_empty());
    }

    #[test]
    fn older_layouts_are_read() {
        let path = temp("legacy");
        let floats: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let write = |name: &str, meta: &[(&str, &str)]| {
            let view = TensorView::new(Dtype::F32, vec![2, 2], &floats).unwrap();
            let meta: HashMap<String, String> = meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            std::fs::write(
                &path,
                safetensors::serialize(vec![(name, view)], Some(meta)).unwrap(),
            )
            .unwrap();
        };
        write("vectors", &[("ids", r#"["a","b"]"#)]);
        let f = VectorFile::read(&path).unwrap();
        assert_eq!(
            (f.ids.clone(), f.row(1)),
            (vec!["a".into(), "b".into()], &[3.0f32, 4.0][..])
        );
        write("mean", &[("doc_ids", r#"["a","b"]"#), ("layer", "0")]);
        let f = VectorFile::read(&path).unwrap();
        assert_eq!((f.len(), f.metadata["layer"].as_str()), (2, "0"));
        write("vectors", &[]);
        assert!(matches!(
            VectorFile::read(&path),
            Err(VectorFileError::Malformed { .. })
        ));
        write("vectors", &[("format", "other/9")]);
        assert!(matches!(
            VectorFile::read(&path),
            Err(VectorFileError::Malformed { .. })
        ));
        // the cllm-void/1 export: same layout, `model_name`
        let mut bytes = sample().to_bytes(&path, &[]).unwrap();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = String::from_utf8(bytes[8..8 + header_len].to_vec()).unwrap();
        let legacy = header
            .replace(VECTOR_FILE_FORMAT, LEGACY_STORE_FORMAT)
            .replace("\"model\"", "\"model_name\"");
        let mut out = (legacy.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(legacy.as_bytes());
        out.extend_from_slice(&bytes.split_off(8 + header_len));
        std::fs::write(&path, &out).unwrap();
        assert_eq!(VectorFile::read(&path).unwrap(), sample());
    }

    #[test]
    fn limits_and_missing_files() {
        let path = temp("limits");
        sample().write(&path).unwrap();
        assert!(matches!(
            VectorFile::read_limited(&path, 10),
            Err(VectorFileError::TooLarge { .. })
        ));
        assert!(matches!(
            VectorFile::read(&path.with_extension("absent")),
            Err(VectorFileError::Io { .. })
        ));
    }

    fn any_file() -> impl Strategy<Value = VectorFile> {
        (1usize..5, 0usize..6).prop_flat_map(|(dim, n)| {
            (
                proptest::collection::vec("[a-zé0-9 _-]{1,12}", n),
                proptest::collection::vec(-1e30f32..1e30, n * dim),
                proptest::collection::btree_map("[a-z]{1,6}", ".{0,10}", 0..3),
            )
                .prop_map(move |(ids, data, metadata)| VectorFile {
                    ids,
                    dim,
                    data,
                    metadata: metadata
                        .into_iter()
                        .filter(|(k, _)| !RESERVED_KEYS.contains(&k.as_str()) && k != "model_name")
                        .collect(),
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// What is written is read back identical, bit for bit.
        #[test]
        fn write_then_read_is_identical(file in any_file()) {
            let path = temp("prop-rt");
            file.write(&path).unwrap();
            let back = VectorFile::read(&path).unwrap();
            prop_assert_eq!(back.ids, file.ids);
            prop_assert_eq!(back.dim, file.dim);
            prop_assert_eq!(back.metadata, file.metadata);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&back.data), bits(&file.data));
        }

        /// Truncated or corrupted files are a typed error or a valid file, never a panic.
        #[test]
        fn damaged_files_never_panic(
            file in any_file(),
            cut in 0usize..64,
            flips in proptest::collection::vec((0usize..4096, any::<u8>()), 0..4),
        ) {
            let path = temp("prop-damage");
            let mut bytes = file.to_bytes(&path, &[]).unwrap();
            for (at, byte) in flips {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            bytes.truncate(bytes.len().saturating_sub(cut));
            if let Ok(back) = VectorFile::from_bytes(&path, &bytes) {
                // whatever is accepted satisfies the format's rules
                prop_assert!(back.check(&path).is_ok());
            }
        }
    }
}
