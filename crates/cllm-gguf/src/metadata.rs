//! Metadata key/value pairs: value types, parsing and typed access.

use std::fmt;

use crate::cursor::Cursor;
use crate::error::{GgufError, Result};

/// Deepest nesting of arrays inside arrays the reader accepts.
pub const MAX_ARRAY_DEPTH: usize = 8;

/// The type tag of a metadata value (`enum gguf_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `u16`
    U16,
    /// `i16`
    I16,
    /// `u32`
    U32,
    /// `i32`
    I32,
    /// `f32`
    F32,
    /// `bool` (one byte)
    Bool,
    /// UTF-8 string (u64 length + bytes)
    String,
    /// array (element type + u64 count + elements)
    Array,
    /// `u64`
    U64,
    /// `i64`
    I64,
    /// `f64`
    F64,
}

impl ValueType {
    /// The type for a GGUF value type id.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::U8,
            1 => Self::I8,
            2 => Self::U16,
            3 => Self::I16,
            4 => Self::U32,
            5 => Self::I32,
            6 => Self::F32,
            7 => Self::Bool,
            8 => Self::String,
            9 => Self::Array,
            10 => Self::U64,
            11 => Self::I64,
            12 => Self::F64,
            _ => return None,
        })
    }

    /// The GGUF value type id.
    pub fn id(self) -> u32 {
        match self {
            Self::U8 => 0,
            Self::I8 => 1,
            Self::U16 => 2,
            Self::I16 => 3,
            Self::U32 => 4,
            Self::I32 => 5,
            Self::F32 => 6,
            Self::Bool => 7,
            Self::String => 8,
            Self::Array => 9,
            Self::U64 => 10,
            Self::I64 => 11,
            Self::F64 => 12,
        }
    }

    /// Smallest number of bytes a value of this type occupies in a file.
    pub(crate) fn min_encoded_size(self) -> usize {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 | Self::String => 8,
            Self::Array => 12,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::U16 => "u16",
            Self::I16 => "i16",
            Self::U32 => "u32",
            Self::I32 => "i32",
            Self::F32 => "f32",
            Self::Bool => "bool",
            Self::String => "string",
            Self::Array => "array",
            Self::U64 => "u64",
            Self::I64 => "i64",
            Self::F64 => "f64",
        };
        f.write_str(s)
    }
}

/// An array metadata value, stored compactly by element type (a GGUF array holds
/// elements of a single type; arrays may nest).
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataArray {
    /// `u8` elements
    U8(Vec<u8>),
    /// `i8` elements
    I8(Vec<i8>),
    /// `u16` elements
    U16(Vec<u16>),
    /// `i16` elements
    I16(Vec<i16>),
    /// `u32` elements
    U32(Vec<u32>),
    /// `i32` elements
    I32(Vec<i32>),
    /// `f32` elements
    F32(Vec<f32>),
    /// `bool` elements
    Bool(Vec<bool>),
    /// string elements
    String(Vec<String>),
    /// array elements (nested arrays)
    Array(Vec<MetadataArray>),
    /// `u64` elements
    U64(Vec<u64>),
    /// `i64` elements
    I64(Vec<i64>),
    /// `f64` elements
    F64(Vec<f64>),
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    /// `u8`
    U8(u8),
    /// `i8`
    I8(i8),
    /// `u16`
    U16(u16),
    /// `i16`
    I16(i16),
    /// `u32`
    U32(u32),
    /// `i32`
    I32(i32),
    /// `f32`
    F32(f32),
    /// `bool`
    Bool(bool),
    /// string
    String(String),
    /// array
    Array(MetadataArray),
    /// `u64`
    U64(u64),
    /// `i64`
    I64(i64),
    /// `f64`
    F64(f64),
}

impl MetadataValue {
    /// This value's type tag.
    pub fn value_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::F32(_) => ValueType::F32,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F64(_) => ValueType::F64,
        }
    }

    /// A short description of the type, e.g. `"u32"` or `"array<string>"`.
    pub fn type_name(&self) -> String {
        match self {
            Self::Array(a) => format!("array<{}>", a.elem_type()),
            v => v.value_type().to_string(),
        }
    }

    /// The value as an `i128` if it is any integer type.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            Self::U8(v) => v.into(),
            Self::I8(v) => v.into(),
            Self::U16(v) => v.into(),
            Self::I16(v) => v.into(),
            Self::U32(v) => v.into(),
            Self::I32(v) => v.into(),
            Self::U64(v) => v.into(),
            Self::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// The value as an `f64` if it is `f32` or `f64`.
    pub fn as_float(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v.into()),
            Self::F64(v) => Some(v),
            _ => None,
        }
    }

    /// The string if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The array if this is an array value.
    pub fn as_array(&self) -> Option<&MetadataArray> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Writes the value's payload (without its type tag) in GGUF encoding.
    pub(crate) fn write_payload(&self, out: &mut Vec<u8>) {
        match self {
            Self::U8(v) => out.push(*v),
            Self::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::Bool(v) => out.push(u8::from(*v)),
            Self::String(s) => write_string(out, s),
            Self::Array(a) => {
                out.extend_from_slice(&a.elem_type().id().to_le_bytes());
                out.extend_from_slice(&(a.len() as u64).to_le_bytes());
                a.write_elements(out);
            }
            Self::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Self::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

macro_rules! impl_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for MetadataValue {
            fn from(v: $t) -> Self {
                Self::$v(v)
            }
        }
    )*};
}
impl_from!(u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, String => String, u64 => U64, i64 => I64, f64 => F64, MetadataArray => Array);

impl From<&str> for MetadataValue {
    fn from(v: &str) -> Self {
        Self::String(v.to_owned())
    }
}

macro_rules! each_array {
    ($a:expr, $v:ident => $body:expr) => {
        match $a {
            MetadataArray::U8($v) => $body,
            MetadataArray::I8($v) => $body,
            MetadataArray::U16($v) => $body,
            MetadataArray::I16($v) => $body,
            MetadataArray::U32($v) => $body,
            MetadataArray::I32($v) => $body,
            MetadataArray::F32($v) => $body,
            MetadataArray::Bool($v) => $body,
            MetadataArray::String($v) => $body,
            MetadataArray::Array($v) => $body,
            MetadataArray::U64($v) => $body,
            MetadataArray::I64($v) => $body,
            MetadataArray::F64($v) => $body,
        }
    };
}

impl MetadataArray {
    /// An array of strings.
    pub fn strings<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Self {
        Self::String(items.into_iter().map(|s| s.as_ref().to_owned()).collect())
    }

    /// An array of `f32`.
    pub fn f32s(items: impl IntoIterator<Item = f32>) -> Self {
        Self::F32(items.into_iter().collect())
    }

    /// An array of `i32`.
    pub fn i32s(items: impl IntoIterator<Item = i32>) -> Self {
        Self::I32(items.into_iter().collect())
    }

    /// An array of `u32`.
    pub fn u32s(items: impl IntoIterator<Item = u32>) -> Self {
        Self::U32(items.into_iter().collect())
    }

    /// The type of the elements.
    pub fn elem_type(&self) -> ValueType {
        match self {
            Self::U8(_) => ValueType::U8,
            Self::I8(_) => ValueType::I8,
            Self::U16(_) => ValueType::U16,
            Self::I16(_) => ValueType::I16,
            Self::U32(_) => ValueType::U32,
            Self::I32(_) => ValueType::I32,
            Self::F32(_) => ValueType::F32,
            Self::Bool(_) => ValueType::Bool,
            Self::String(_) => ValueType::String,
            Self::Array(_) => ValueType::Array,
            Self::U64(_) => ValueType::U64,
            Self::I64(_) => ValueType::I64,
            Self::F64(_) => ValueType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        each_array!(self, v => v.len())
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` as a standalone value (cloned), if in range.
    pub fn get(&self, i: usize) -> Option<MetadataValue> {
        Some(match self {
            Self::U8(v) => MetadataValue::U8(*v.get(i)?),
            Self::I8(v) => MetadataValue::I8(*v.get(i)?),
            Self::U16(v) => MetadataValue::U16(*v.get(i)?),
            Self::I16(v) => MetadataValue::I16(*v.get(i)?),
            Self::U32(v) => MetadataValue::U32(*v.get(i)?),
            Self::I32(v) => MetadataValue::I32(*v.get(i)?),
            Self::F32(v) => MetadataValue::F32(*v.get(i)?),
            Self::Bool(v) => MetadataValue::Bool(*v.get(i)?),
            Self::String(v) => MetadataValue::String(v.get(i)?.clone()),
            Self::Array(v) => MetadataValue::Array(v.get(i)?.clone()),
            Self::U64(v) => MetadataValue::U64(*v.get(i)?),
            Self::I64(v) => MetadataValue::I64(*v.get(i)?),
            Self::F64(v) => MetadataValue::F64(*v.get(i)?),
        })
    }

    /// The elements as `i128` if this is an array of an integer type.
    pub fn integers(&self) -> Option<Vec<i128>> {
        fn conv<T: Copy + Into<i128>>(v: &[T]) -> Vec<i128> {
            v.iter().map(|&x| x.into()).collect()
        }
        Some(match self {
            Self::U8(v) => conv(v),
            Self::I8(v) => conv(v),
            Self::U16(v) => conv(v),
            Self::I16(v) => conv(v),
            Self::U32(v) => conv(v),
            Self::I32(v) => conv(v),
            Self::U64(v) => conv(v),
            Self::I64(v) => conv(v),
            _ => return None,
        })
    }

    fn write_elements(&self, out: &mut Vec<u8>) {
        match self {
            Self::U8(v) => out.extend_from_slice(v),
            Self::I8(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::U16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::I16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::U32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::I32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::F32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::Bool(v) => v.iter().for_each(|&x| out.push(u8::from(x))),
            Self::String(v) => v.iter().for_each(|x| write_string(out, x)),
            Self::Array(v) => v.iter().for_each(|a| {
                out.extend_from_slice(&a.elem_type().id().to_le_bytes());
                out.extend_from_slice(&(a.len() as u64).to_le_bytes());
                a.write_elements(out);
            }),
            Self::U64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::I64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Self::F64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
    }
}

pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Reads one value of type `ty` for metadata key `key`.
pub(crate) fn read_value(
    c: &mut Cursor<'_>,
    ty: ValueType,
    key: &str,
    depth: usize,
) -> Result<MetadataValue> {
    let what = || format!("value of metadata key {key:?}");
    Ok(match ty {
        ValueType::U8 => MetadataValue::U8(c.u8(&what)?),
        ValueType::I8 => MetadataValue::I8(c.u8(&what)? as i8),
        ValueType::U16 => MetadataValue::U16(c.u16(&what)?),
        ValueType::I16 => MetadataValue::I16(c.u16(&what)? as i16),
        ValueType::U32 => MetadataValue::U32(c.u32(&what)?),
        ValueType::I32 => MetadataValue::I32(c.u32(&what)? as i32),
        ValueType::F32 => MetadataValue::F32(f32::from_bits(c.u32(&what)?)),
        ValueType::Bool => MetadataValue::Bool(c.u8(&what)? != 0),
        ValueType::String => MetadataValue::String(c.string(&what)?),
        ValueType::U64 => MetadataValue::U64(c.u64(&what)?),
        ValueType::I64 => MetadataValue::I64(c.u64(&what)? as i64),
        ValueType::F64 => MetadataValue::F64(f64::from_bits(c.u64(&what)?)),
        ValueType::Array => MetadataValue::Array(read_array_value(c, key, depth)?),
    })
}

/// Reads an array value (element type, count, elements) at nesting `depth`.
fn read_array_value(c: &mut Cursor<'_>, key: &str, depth: usize) -> Result<MetadataArray> {
    if depth >= MAX_ARRAY_DEPTH {
        return Err(GgufError::NestingTooDeep {
            key: key.to_owned(),
            max_depth: MAX_ARRAY_DEPTH,
        });
    }
    let elem_id = c.u32(&|| format!("array element type of metadata key {key:?}"))?;
    let elem_type = ValueType::from_id(elem_id).ok_or_else(|| GgufError::InvalidValueType {
        key: key.to_owned(),
        type_id: elem_id,
    })?;
    let count = c.u64(&|| format!("array length of metadata key {key:?}"))?;
    let n = c.check_count(count, elem_type.min_encoded_size(), &|| {
        format!("array<{elem_type}> element of metadata key {key:?}")
    })?;
    read_array(c, elem_type, n, key, depth)
}

/// Reads `n` elements of type `ty`; `n` was already checked against the remaining
/// bytes.
fn read_array(
    c: &mut Cursor<'_>,
    ty: ValueType,
    n: usize,
    key: &str,
    depth: usize,
) -> Result<MetadataArray> {
    let what = || format!("array element of metadata key {key:?}");
    macro_rules! fixed {
        ($variant:ident, $t:ty, $conv:expr) => {{
            const SZ: usize = std::mem::size_of::<$t>();
            let bytes = c.take(n * SZ, &what)?;
            MetadataArray::$variant(
                bytes
                    .chunks_exact(SZ)
                    .map(|b| {
                        let mut a = [0u8; SZ];
                        a.copy_from_slice(b);
                        $conv(a)
                    })
                    .collect(),
            )
        }};
    }
    Ok(match ty {
        ValueType::U8 => MetadataArray::U8(c.take(n, &what)?.to_vec()),
        ValueType::I8 => fixed!(I8, i8, i8::from_le_bytes),
        ValueType::U16 => fixed!(U16, u16, u16::from_le_bytes),
        ValueType::I16 => fixed!(I16, i16, i16::from_le_bytes),
        ValueType::U32 => fixed!(U32, u32, u32::from_le_bytes),
        ValueType::I32 => fixed!(I32, i32, i32::from_le_bytes),
        ValueType::F32 => fixed!(F32, f32, f32::from_le_bytes),
        ValueType::Bool => MetadataArray::Bool(c.take(n, &what)?.iter().map(|&b| b != 0).collect()),
        ValueType::U64 => fixed!(U64, u64, u64::from_le_bytes),
        ValueType::I64 => fixed!(I64, i64, i64::from_le_bytes),
        ValueType::F64 => fixed!(F64, f64, f64::from_le_bytes),
        ValueType::String => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(c.string(&what)?);
            }
            MetadataArray::String(v)
        }
        ValueType::Array => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(read_array_value(c, key, depth + 1)?);
            }
            MetadataArray::Array(v)
        }
    })
}
