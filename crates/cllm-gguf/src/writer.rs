//! [`GgufWriter`]: builds GGUF v3 files (metadata + tensors) in memory or on disk.

use std::path::Path;

use indexmap::IndexMap;

use crate::error::{GgufError, Result};
use crate::file::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC};
use crate::metadata::{write_string, MetadataValue};
use crate::quant::quantize_named;
use crate::tensor::{TensorInfo, MAX_DIMS};
use crate::types::GgmlType;

struct PendingTensor {
    info: TensorInfo,
    data: Vec<u8>,
}

/// Builds a GGUF v3 file.
///
/// Metadata keeps insertion order. Tensors are given in row-major (PyTorch) shape and
/// stored with GGUF dims reversed, exactly as gguf-py's `GGUFWriter.add_tensor` does;
/// f32 data is quantised by [`crate::quantize`] (F32, F16, BF16, Q8_0, Q4_0, Q4_1), or
/// pre-encoded bytes of any type can be added with [`GgufWriter::add_tensor_bytes`].
///
/// ```
/// use cllm_gguf::{GgufWriter, GgufFile, GgmlType, MetadataArray};
///
/// let mut w = GgufWriter::new();
/// w.add_metadata("general.architecture", "llama")?
///     .add_metadata("llama.rope.freq_base", 10000.0f32)?
///     .add_metadata("tokenizer.ggml.tokens", MetadataArray::strings(["<s>", "a", "b"]))?;
/// let embd: Vec<f32> = (0..3 * 64).map(|i| (i as f32 * 0.37).sin()).collect();
/// w.add_tensor_f32("token_embd.weight", &[3, 64], &embd, GgmlType::F16)?;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tiny.gguf");
/// w.write_to_path(&path)?;
///
/// let f = GgufFile::open(&path)?;
/// assert_eq!(f.get_str_array("tokenizer.ggml.tokens")?, ["<s>", "a", "b"]);
/// assert_eq!(f.tensor_info("token_embd.weight")?.dims, vec![64, 3]);
/// # Ok::<(), cllm_gguf::GgufError>(())
/// ```
pub struct GgufWriter {
    version: u32,
    alignment: u64,
    metadata: IndexMap<String, MetadataValue>,
    tensors: Vec<PendingTensor>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for GgufWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufWriter")
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("n_metadata", &self.metadata.len())
            .field("n_tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufWriter {
    /// An empty GGUF v3 writer with the default alignment (32).
    pub fn new() -> Self {
        Self {
            version: 3,
            alignment: DEFAULT_ALIGNMENT,
            metadata: IndexMap::new(),
            tensors: Vec::new(),
        }
    }

    /// Writes GGUF version 2 instead of 3 (the layouts are identical; only the
    /// version number differs).
    pub fn set_version(&mut self, version: u32) -> Result<&mut Self> {
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion { version });
        }
        self.version = version;
        Ok(self)
    }

    /// Adds a metadata key. Setting `general.alignment` (a power of two, as `u32`)
    /// also changes the data alignment used when writing.
    ///
    /// Errors: a key already added, or a bad `general.alignment`
    /// ([`GgufError::InvalidMetadata`]).
    pub fn add_metadata(
        &mut self,
        key: &str,
        value: impl Into<MetadataValue>,
    ) -> Result<&mut Self> {
        let value = value.into();
        let bad = |detail: &str| GgufError::InvalidMetadata {
            key: key.to_owned(),
            detail: detail.to_owned(),
        };
        if self.metadata.contains_key(key) {
            return Err(bad("key added twice"));
        }
        if key == ALIGNMENT_KEY {
            match value {
                MetadataValue::U32(a) if a.is_power_of_two() => self.alignment = a.into(),
                _ => return Err(bad("general.alignment must be a u32 power of two")),
            }
        }
        self.metadata.insert(key.to_owned(), value);
        Ok(self)
    }

    /// Adds a tensor from `f32` data in row-major order with row-major `shape`
    /// (outermost first), stored as `ty`.
    pub fn add_tensor_f32(
        &mut self,
        name: &str,
        shape: &[usize],
        data: &[f32],
        ty: GgmlType,
    ) -> Result<&mut Self> {
        let info = self.check_new(name, shape, ty)?;
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(GgufError::InvalidTensorData {
                tensor: name.to_owned(),
                detail: format!(
                    "shape {shape:?} has {n} elements but {} were given",
                    data.len()
                ),
            });
        }
        let mut bytes = Vec::new();
        quantize_named(name, ty, data, &mut bytes)?;
        self.tensors.push(PendingTensor { info, data: bytes });
        Ok(self)
    }

    /// Adds a tensor from already-encoded bytes of type `ty` (any type, e.g. K-quants
    /// made elsewhere), with row-major `shape`.
    pub fn add_tensor_bytes(
        &mut self,
        name: &str,
        shape: &[usize],
        ty: GgmlType,
        bytes: Vec<u8>,
    ) -> Result<&mut Self> {
        let info = self.check_new(name, shape, ty)?;
        let expected = info.n_bytes();
        if bytes.len() as u64 != expected {
            return Err(GgufError::InvalidTensorData {
                tensor: name.to_owned(),
                detail: format!(
                    "{ty} tensor of shape {shape:?} needs {expected} bytes, got {}",
                    bytes.len()
                ),
            });
        }
        self.tensors.push(PendingTensor { info, data: bytes });
        Ok(self)
    }

    fn check_new(&self, name: &str, shape: &[usize], ty: GgmlType) -> Result<TensorInfo> {
        if self.tensors.iter().any(|t| t.info.name == name) {
            return Err(GgufError::DuplicateTensor {
                tensor: name.to_owned(),
            });
        }
        if shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(GgufError::InvalidDimCount {
                tensor: name.to_owned(),
                n_dims: shape.len() as u32,
            });
        }
        let info = TensorInfo {
            name: name.to_owned(),
            dims: shape.iter().rev().map(|&d| d as u64).collect(),
            ggml_type: ty,
            offset: 0,
        };
        info.validate()?;
        Ok(info)
    }

    /// Encodes the whole file.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_into(&mut out);
        Ok(out)
    }

    fn write_into(&self, out: &mut Vec<u8>) {
        let align = self.alignment as usize;
        out.extend_from_slice(&GGUF_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            write_string(out, k);
            out.extend_from_slice(&v.value_type().id().to_le_bytes());
            v.write_payload(out);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            write_string(out, &t.info.name);
            out.extend_from_slice(&(t.info.dims.len() as u32).to_le_bytes());
            for d in &t.info.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.info.ggml_type.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset += (t.data.len() as u64).div_ceil(self.alignment) * self.alignment;
        }
        let pad = |out: &mut Vec<u8>| out.resize(out.len().div_ceil(align) * align, 0);
        pad(out);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            pad(out);
        }
    }

    /// Writes the file to `path` atomically: into a temporary file in the same
    /// directory, flushed to disk, then renamed over `path`.
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        cllm_core::write_atomic(path, &self.to_bytes()?).map_err(|source| GgufError::Io {
            path: path.to_owned(),
            source,
        })
    }
}
