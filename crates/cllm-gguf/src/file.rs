//! [`GgufFile`]: header parsing, validation and tensor access.

use std::collections::HashMap;
use std::path::Path;

use indexmap::IndexMap;

use crate::cursor::Cursor;
use crate::dequant;
use crate::error::{GgufError, Result};
use crate::metadata::{read_value, MetadataArray, MetadataValue, ValueType};
use crate::tensor::{read_tensor_info, TensorInfo};

/// The GGUF magic, `"GGUF"` (bytes 0x47 0x47 0x55 0x46).
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";

/// Data alignment used when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The metadata key that overrides [`DEFAULT_ALIGNMENT`].
pub const ALIGNMENT_KEY: &str = "general.alignment";

enum Storage {
    Mmap(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mmap(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// A parsed and validated GGUF (v2 or v3, little-endian) file.
///
/// Opening a file parses the header, all metadata and all tensor descriptors, and
/// checks every tensor's data range against the file; tensor data itself is only read
/// (and dequantised) on demand.
///
/// ```
/// use cllm_gguf::{GgufFile, GgufWriter, GgmlType};
///
/// let mut w = GgufWriter::new();
/// w.add_metadata("general.architecture", "llama")?;
/// w.add_metadata("llama.block_count", 2u32)?;
/// w.add_tensor_f32("w", &[2, 32], &vec![0.5f32; 64], GgmlType::F16)?;
/// let f = GgufFile::from_bytes(w.to_bytes()?)?;
///
/// assert_eq!(f.get_str("general.architecture")?, "llama");
/// assert_eq!(f.get_u32("llama.block_count")?, 2);
/// assert_eq!(f.tensor_info("w")?.shape(), vec![2, 32]);
/// assert_eq!(f.tensor_f32("w")?, vec![0.5f32; 64]);
/// # Ok::<(), cllm_gguf::GgufError>(())
/// ```
pub struct GgufFile {
    storage: Storage,
    version: u32,
    metadata: IndexMap<String, MetadataValue>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    alignment: u64,
    data_offset: usize,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("n_metadata", &self.metadata.len())
            .field("n_tensors", &self.tensors.len())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and parses the file at `path`.
    ///
    /// The file must not be modified by anyone while the returned value is alive
    /// (the usual memory-mapping caveat).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |source| GgufError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let storage = if len == 0 {
            // Zero-length files cannot be mapped on every platform.
            Storage::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only; the documented contract is that the file
            // is not modified while mapped. All reads are bounds-checked against the
            // map's length.
            Storage::Mmap(unsafe { memmap2::Mmap::map(&file) }.map_err(io)?)
        };
        Self::parse(storage)
    }

    /// Parses a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::parse(Storage::Owned(bytes))
    }

    fn parse(storage: Storage) -> Result<Self> {
        let bytes = storage.bytes();
        let mut c = Cursor::new(bytes);
        let magic = c.take(4, &|| "magic".to_owned()).map_err(|e| match e {
            GgufError::Truncated { .. } => GgufError::BadMagic {
                found: bytes.to_vec(),
            },
            e => e,
        })?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::BadMagic {
                found: magic.to_vec(),
            });
        }
        let version = c.u32(&|| "version".to_owned())?;
        match version {
            2 | 3 => {}
            v if (1..=3).contains(&v.swap_bytes()) => {
                return Err(GgufError::BigEndian {
                    version: v.swap_bytes(),
                })
            }
            v => return Err(GgufError::UnsupportedVersion { version: v }),
        }
        let n_tensors = c.u64(&|| "tensor count".to_owned())?;
        let n_kv = c.u64(&|| "metadata KV count".to_owned())?;

        // Each KV needs at least: key length (8) + type (4) + a 1-byte value.
        let n_kv = c.check_count(n_kv, 13, &|| "metadata KV".to_owned())?;
        let mut metadata = IndexMap::with_capacity(n_kv);
        for i in 0..n_kv {
            let key = c.string(&|| format!("key of metadata KV #{i}"))?;
            let type_id = c.u32(&|| format!("value type of metadata key {key:?}"))?;
            let ty = ValueType::from_id(type_id).ok_or_else(|| GgufError::InvalidValueType {
                key: key.clone(),
                type_id,
            })?;
            let value = read_value(&mut c, ty, &key, 0)?;
            if metadata.contains_key(&key) {
                return Err(GgufError::DuplicateKey { key });
            }
            metadata.insert(key, value);
        }

        let alignment = match metadata.get(ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some(v) => {
                let a = v.as_integer().ok_or_else(|| GgufError::InvalidAlignment {
                    detail: format!("expected an integer, found {}", v.type_name()),
                })?;
                if a <= 0 || a > u32::MAX as i128 || (a as u64).count_ones() != 1 {
                    return Err(GgufError::InvalidAlignment {
                        detail: format!("{a} is not a power of two in 1..=2^31"),
                    });
                }
                a as u64
            }
        };

        // Each tensor info needs at least: name length (8) + n_dims (4) + one dim (8)
        // + type (4) + offset (8).
        let n_tensors = c.check_count(n_tensors, 32, &|| "tensor info".to_owned())?;
        let mut tensors = Vec::with_capacity(n_tensors);
        let mut tensor_index = HashMap::with_capacity(n_tensors);
        for i in 0..n_tensors {
            let info = read_tensor_info(&mut c, i)?;
            if tensor_index.insert(info.name.clone(), i).is_some() {
                return Err(GgufError::DuplicateTensor { tensor: info.name });
            }
            tensors.push(info);
        }

        // The data section starts at the next multiple of the alignment.
        let pos = c.pos() as u64;
        let data_offset = pos.div_ceil(alignment) * alignment;
        let data_len = (bytes.len() as u64).saturating_sub(data_offset);

        let mut ranges = Vec::with_capacity(tensors.len());
        for (i, t) in tensors.iter().enumerate() {
            let size = t.validate()?;
            if !t.offset.is_multiple_of(alignment) {
                return Err(GgufError::MisalignedOffset {
                    tensor: t.name.clone(),
                    offset: t.offset,
                    alignment,
                });
            }
            match t.offset.checked_add(size) {
                Some(end) if end <= data_len => ranges.push((t.offset, end, i)),
                _ => {
                    return Err(GgufError::TensorOutOfBounds {
                        tensor: t.name.clone(),
                        offset: t.offset,
                        size,
                        data_len,
                    })
                }
            }
        }
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            if w[0].1 > w[1].0 {
                return Err(GgufError::OverlappingTensors {
                    first: tensors[w[0].2].name.clone(),
                    second: tensors[w[1].2].name.clone(),
                });
            }
        }

        Ok(Self {
            version,
            metadata,
            tensors,
            tensor_index,
            alignment,
            data_offset: data_offset.min(bytes.len() as u64) as usize,
            storage,
        })
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The data alignment (`general.alignment`, default 32).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Byte offset of the data section within the file.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// All metadata, in file order.
    pub fn metadata(&self) -> &IndexMap<String, MetadataValue> {
        &self.metadata
    }

    /// One metadata value, if present.
    pub fn get(&self, key: &str) -> Option<&MetadataValue> {
        self.metadata.get(key)
    }

    /// One metadata value, or [`GgufError::MissingKey`].
    pub fn value(&self, key: &str) -> Result<&MetadataValue> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
        })
    }

    fn get_int<T: TryFrom<i128>>(&self, key: &str, target: &str) -> Result<T> {
        let v = self.value(key)?;
        let i = v.as_integer().ok_or_else(|| GgufError::WrongType {
            key: key.to_owned(),
            expected: format!("integer ({target})"),
            found: v.type_name(),
        })?;
        T::try_from(i).map_err(|_| GgufError::OutOfRange {
            key: key.to_owned(),
            value: i.to_string(),
            target: target.to_owned(),
        })
    }

    /// An integer value as `u32`; any integer type is accepted if the value fits.
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        self.get_int(key, "u32")
    }

    /// An integer value as `u64`; any integer type is accepted if the value fits.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        self.get_int(key, "u64")
    }

    /// An integer value as `i32`; any integer type is accepted if the value fits.
    pub fn get_i32(&self, key: &str) -> Result<i32> {
        self.get_int(key, "i32")
    }

    /// An integer value as `i64`; any integer type is accepted if the value fits.
    pub fn get_i64(&self, key: &str) -> Result<i64> {
        self.get_int(key, "i64")
    }

    /// An integer value as `usize`; any integer type is accepted if the value fits.
    pub fn get_usize(&self, key: &str) -> Result<usize> {
        self.get_int(key, "usize")
    }

    /// A float value as `f32` (`f64` values are rounded to `f32`).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        let v = self.value(key)?;
        match v {
            MetadataValue::F32(x) => Ok(*x),
            MetadataValue::F64(x) => Ok(*x as f32),
            _ => Err(self.wrong(key, "f32", v)),
        }
    }

    /// A float value as `f64`.
    pub fn get_f64(&self, key: &str) -> Result<f64> {
        let v = self.value(key)?;
        v.as_float().ok_or_else(|| self.wrong(key, "f64", v))
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.value(key)?;
        v.as_str().ok_or_else(|| self.wrong(key, "string", v))
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        match self.value(key)? {
            MetadataValue::Bool(b) => Ok(*b),
            v => Err(self.wrong(key, "bool", v)),
        }
    }

    /// An array value (of any element type).
    pub fn get_array(&self, key: &str) -> Result<&MetadataArray> {
        let v = self.value(key)?;
        v.as_array().ok_or_else(|| self.wrong(key, "array", v))
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        let v = self.value(key)?;
        match v {
            MetadataValue::Array(MetadataArray::String(a)) => {
                Ok(a.iter().map(String::as_str).collect())
            }
            _ => Err(self.wrong(key, "array<string>", v)),
        }
    }

    /// An array of floats as `f32` (`f32` or `f64` elements).
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>> {
        let v = self.value(key)?;
        match v {
            MetadataValue::Array(MetadataArray::F32(a)) => Ok(a.clone()),
            MetadataValue::Array(MetadataArray::F64(a)) => {
                Ok(a.iter().map(|&x| x as f32).collect())
            }
            _ => Err(self.wrong(key, "array<f32>", v)),
        }
    }

    /// An array of integers as `i32`; any integer element type is accepted if every
    /// value fits.
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>> {
        match self.value(key)? {
            MetadataValue::Array(MetadataArray::I32(a)) => Ok(a.clone()),
            _ => self.get_int_array(key, "i32"),
        }
    }

    /// An array of integers as `u32`; any integer element type is accepted if every
    /// value fits.
    pub fn get_u32_array(&self, key: &str) -> Result<Vec<u32>> {
        match self.value(key)? {
            MetadataValue::Array(MetadataArray::U32(a)) => Ok(a.clone()),
            _ => self.get_int_array(key, "u32"),
        }
    }

    fn get_int_array<T: TryFrom<i128>>(&self, key: &str, target: &str) -> Result<Vec<T>> {
        let v = self.value(key)?;
        let ints = v
            .as_array()
            .and_then(MetadataArray::integers)
            .ok_or_else(|| self.wrong(key, &format!("array<{target}>"), v))?;
        ints.into_iter()
            .map(|i| {
                T::try_from(i).map_err(|_| GgufError::OutOfRange {
                    key: key.to_owned(),
                    value: i.to_string(),
                    target: target.to_owned(),
                })
            })
            .collect()
    }

    fn wrong(&self, key: &str, expected: &str, found: &MetadataValue) -> GgufError {
        GgufError::WrongType {
            key: key.to_owned(),
            expected: expected.to_owned(),
            found: found.type_name(),
        }
    }

    /// All tensor descriptors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The descriptor of the tensor called `name`.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo> {
        self.tensor_index
            .get(name)
            .map(|&i| &self.tensors[i])
            .ok_or_else(|| GgufError::TensorNotFound {
                name: name.to_owned(),
            })
    }

    /// Row-major (PyTorch-order) shape of the tensor called `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>> {
        Ok(self.tensor_info(name)?.shape())
    }

    /// The raw (possibly quantised) bytes of the tensor called `name`.
    pub fn tensor_bytes(&self, name: &str) -> Result<&[u8]> {
        let t = self.tensor_info(name)?;
        Ok(self.bytes_of(t))
    }

    fn bytes_of(&self, t: &TensorInfo) -> &[u8] {
        // Bounds were checked when the file was parsed.
        let start = self.data_offset + t.offset as usize;
        &self.storage.bytes()[start..start + t.n_bytes() as usize]
    }

    /// The tensor called `name`, dequantised to `f32`, in row-major order
    /// (see [`TensorInfo::shape`]).
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>> {
        let t = self.tensor_info(name)?;
        let mut out = vec![0f32; t.n_elements() as usize];
        dequant::dequantize_named(&t.name, t.ggml_type, self.bytes_of(t), &mut out)?;
        Ok(out)
    }

    /// Rows `rows` of the tensor called `name`, dequantised; a row is one run of the
    /// innermost dimension (`dims[0]` elements). Useful to fetch a few embedding rows
    /// without dequantising the whole table.
    pub fn tensor_rows_f32(&self, name: &str, rows: std::ops::Range<usize>) -> Result<Vec<f32>> {
        let t = self.tensor_info(name)?;
        let n_rows = t.n_rows() as usize;
        if rows.start > rows.end || rows.end > n_rows {
            return Err(GgufError::InvalidTensorData {
                tensor: t.name.clone(),
                detail: format!("row range {rows:?} outside 0..{n_rows}"),
            });
        }
        let ne0 = t.dims[0] as usize;
        let row_bytes = ne0 / t.ggml_type.block_size() * t.ggml_type.type_size();
        let bytes = &self.bytes_of(t)[rows.start * row_bytes..rows.end * row_bytes];
        let mut out = vec![0f32; rows.len() * ne0];
        dequant::dequantize_named(&t.name, t.ggml_type, bytes, &mut out)?;
        Ok(out)
    }

    /// The whole file's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }
}
