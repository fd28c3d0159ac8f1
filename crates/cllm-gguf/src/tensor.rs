//! Tensor descriptors: name, dimensions, type and data offset.

use crate::cursor::Cursor;
use crate::error::{GgufError, Result};
use crate::types::GgmlType;

/// Most dimensions a GGUF tensor may have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

/// Describes one tensor of a GGUF file.
///
/// `dims` are in GGUF/ggml order: `dims[0]` (`ne0`) is the innermost, fastest-varying
/// dimension. [`TensorInfo::shape`] gives the row-major (PyTorch) order, i.e. the
/// reverse: a linear weight stored with `ne = [in, out]` has shape `[out, in]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor's name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in GGUF order (innermost first), 1 to 4 of them, none zero.
    pub dims: Vec<u64>,
    /// The element type.
    pub ggml_type: GgmlType,
    /// Offset of the data, relative to the start of the file's data section.
    pub offset: u64,
}

impl TensorInfo {
    /// Row-major shape (outermost first): `dims` reversed, as `usize`.
    ///
    /// ```
    /// # use cllm_gguf::{TensorInfo, GgmlType};
    /// let t = TensorInfo { name: "w".into(), dims: vec![576, 1536], ggml_type: GgmlType::F32, offset: 0 };
    /// assert_eq!(t.shape(), vec![1536, 576]);
    /// ```
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of elements (product of the dimensions).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Size of the tensor's data in bytes.
    pub fn n_bytes(&self) -> u64 {
        self.ggml_type.bytes_for(self.n_elements()).unwrap_or(0)
    }

    /// Number of rows: all elements but the innermost dimension.
    pub fn n_rows(&self) -> u64 {
        self.n_elements() / self.dims[0]
    }

    /// Checks dims, type and size constraints that do not depend on the file layout;
    /// returns the tensor's size in bytes.
    pub(crate) fn validate(&self) -> Result<u64> {
        if self.dims.is_empty() || self.dims.len() > MAX_DIMS {
            return Err(GgufError::InvalidDimCount {
                tensor: self.name.clone(),
                n_dims: self.dims.len() as u32,
            });
        }
        if self.dims.contains(&0) {
            return Err(GgufError::ZeroDim {
                tensor: self.name.clone(),
                dims: self.dims.clone(),
            });
        }
        let overflow = || GgufError::ElementCountOverflow {
            tensor: self.name.clone(),
            dims: self.dims.clone(),
        };
        let mut n: u64 = 1;
        for &d in &self.dims {
            n = n.checked_mul(d).ok_or_else(overflow)?;
        }
        // Keep element counts addressable (and i64-representable as ggml requires).
        if n > i64::MAX as u64 || usize::try_from(n).is_err() {
            return Err(overflow());
        }
        let bs = self.ggml_type.block_size() as u64;
        if !self.dims[0].is_multiple_of(bs) {
            return Err(GgufError::NotBlockMultiple {
                tensor: self.name.clone(),
                ne0: self.dims[0],
                block_size: bs,
                ggml_type: self.ggml_type.name().to_owned(),
            });
        }
        self.ggml_type.bytes_for(n).ok_or_else(overflow)
    }
}

/// Reads one tensor info record (`gguf_tensor_info`).
pub(crate) fn read_tensor_info(c: &mut Cursor<'_>, index: usize) -> Result<TensorInfo> {
    let name = c.string(&|| format!("name of tensor #{index}"))?;
    let n_dims = c.u32(&|| format!("n_dims of tensor {name:?}"))?;
    if n_dims == 0 || n_dims as usize > MAX_DIMS {
        return Err(GgufError::InvalidDimCount {
            tensor: name,
            n_dims,
        });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for i in 0..n_dims {
        dims.push(c.u64(&|| format!("dim {i} of tensor {name:?}"))?);
    }
    let type_id = c.u32(&|| format!("type of tensor {name:?}"))?;
    let ggml_type = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnsupportedType {
        tensor: name.clone(),
        type_id,
    })?;
    let offset = c.u64(&|| format!("offset of tensor {name:?}"))?;
    let info = TensorInfo {
        name,
        dims,
        ggml_type,
        offset,
    };
    info.validate()?;
    Ok(info)
}
