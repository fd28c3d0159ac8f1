//! Dequantisation of ggml tensor data to `f32`.
//!
//! One kernel per type, each turning a run of whole blocks into `f32`s with the exact
//! arithmetic of ggml's `dequantize_row_*` (and gguf-py's `gguf.quants`), so results
//! are bit-identical to those references. Large tensors are split into chunks of
//! blocks that are dequantised in parallel with rayon.

mod float;
mod kquants;
mod legacy;

use rayon::prelude::*;

use crate::error::{GgufError, Result};
use crate::types::GgmlType;

/// A kernel: `src` holds whole blocks, `dst` exactly `blocks * block_size` elements.
type Kernel = fn(&[u8], &mut [f32]);

fn kernel_for(ty: GgmlType) -> Option<Kernel> {
    Some(match ty {
        GgmlType::F32 => float::f32s,
        GgmlType::F16 => float::f16s,
        GgmlType::BF16 => float::bf16s,
        GgmlType::F64 => float::f64s,
        GgmlType::I8 => float::i8s,
        GgmlType::I16 => float::i16s,
        GgmlType::I32 => float::i32s,
        GgmlType::I64 => float::i64s,
        GgmlType::Q4_0 => legacy::q4_0,
        GgmlType::Q4_1 => legacy::q4_1,
        GgmlType::Q5_0 => legacy::q5_0,
        GgmlType::Q5_1 => legacy::q5_1,
        GgmlType::Q8_0 => legacy::q8_0,
        GgmlType::Q2_K => kquants::q2_k,
        GgmlType::Q3_K => kquants::q3_k,
        GgmlType::Q4_K => kquants::q4_k,
        GgmlType::Q5_K => kquants::q5_k,
        GgmlType::Q6_K => kquants::q6_k,
        GgmlType::Q8_K => kquants::q8_k,
        _ => return None,
    })
}

/// Elements per parallel work item.
const CHUNK_ELEMS: usize = 1 << 15;

/// Dequantises `data` (whole blocks of type `ty`) into `out`.
///
/// `out.len()` must be a multiple of the block size and `data.len()` must be exactly
/// the bytes of `out.len()` elements; otherwise [`GgufError::InvalidTensorData`].
/// Types without a kernel give [`GgufError::UnsupportedType`].
///
/// ```
/// use cllm_gguf::{dequantize, GgmlType};
/// // One Q8_0 block: f16 scale 0.5 (0x3800), then 32 int8 quants.
/// let mut block = vec![0x00, 0x38];
/// block.extend((0..32).map(|i| i as u8));
/// let mut out = vec![0f32; 32];
/// dequantize(GgmlType::Q8_0, &block, &mut out)?;
/// assert_eq!(out[3], 1.5);
/// # Ok::<(), cllm_gguf::GgufError>(())
/// ```
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut [f32]) -> Result<()> {
    dequantize_named("<buffer>", ty, data, out)
}

pub(crate) fn dequantize_named(
    name: &str,
    ty: GgmlType,
    data: &[u8],
    out: &mut [f32],
) -> Result<()> {
    let kernel = kernel_for(ty).ok_or_else(|| GgufError::UnsupportedType {
        tensor: name.to_owned(),
        type_id: ty.id(),
    })?;
    let bs = ty.block_size();
    let ts = ty.type_size();
    if !out.len().is_multiple_of(bs) || Some(data.len()) != (out.len() / bs).checked_mul(ts) {
        return Err(GgufError::InvalidTensorData {
            tensor: name.to_owned(),
            detail: format!(
                "{} bytes of {ty} cannot dequantise to {} elements",
                data.len(),
                out.len()
            ),
        });
    }
    let blocks_per_chunk = (CHUNK_ELEMS / bs).max(1);
    if out.len() <= CHUNK_ELEMS {
        kernel(data, out);
    } else {
        out.par_chunks_mut(blocks_per_chunk * bs)
            .zip(data.par_chunks(blocks_per_chunk * ts))
            .for_each(|(o, d)| kernel(d, o));
    }
    Ok(())
}

#[inline(always)]
pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}
