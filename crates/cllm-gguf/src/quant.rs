//! Reference quantisers (f32 → ggml types), ports of ggml's
//! `quantize_row_*_ref` functions; used by [`crate::GgufWriter`].
//!
//! These are the simple round-to-nearest quantisers, bit-identical to ggml's reference
//! code and to gguf-py's `gguf.quants.quantize`. They are meant for test fixtures, not
//! for producing high-quality model files (llama.cpp's `llama-quantize` uses
//! importance-weighted searches for K-quants).

use crate::error::{GgufError, Result};
use crate::types::GgmlType;

/// Quantises `data` (a whole number of blocks) to `ty`, appending to `out`.
///
/// Supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1. Others give
/// [`GgufError::UnsupportedQuantization`]; a length that is not a multiple of the
/// block size gives [`GgufError::InvalidTensorData`].
///
/// ```
/// use cllm_gguf::{quantize, dequantize, GgmlType};
/// let x: Vec<f32> = (0..32).map(|i| i as f32 / 8.0 - 2.0).collect();
/// let mut q = Vec::new();
/// quantize(GgmlType::Q8_0, &x, &mut q)?;
/// assert_eq!(q.len(), 34);
/// let mut y = vec![0f32; 32];
/// dequantize(GgmlType::Q8_0, &q, &mut y)?;
/// assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 0.01));
/// # Ok::<(), cllm_gguf::GgufError>(())
/// ```
pub fn quantize(ty: GgmlType, data: &[f32], out: &mut Vec<u8>) -> Result<()> {
    quantize_named("<buffer>", ty, data, out)
}

pub(crate) fn quantize_named(
    name: &str,
    ty: GgmlType,
    data: &[f32],
    out: &mut Vec<u8>,
) -> Result<()> {
    let bs = ty.block_size();
    if !ty.can_quantize() {
        return Err(GgufError::UnsupportedQuantization {
            tensor: name.to_owned(),
            ggml_type: ty.name().to_owned(),
        });
    }
    if !data.len().is_multiple_of(bs) {
        return Err(GgufError::InvalidTensorData {
            tensor: name.to_owned(),
            detail: format!(
                "{} elements is not a multiple of the {ty} block size {bs}",
                data.len()
            ),
        });
    }
    out.reserve(data.len() / bs * ty.type_size());
    match ty {
        GgmlType::F32 => data
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        GgmlType::F16 => data
            .iter()
            .for_each(|&x| out.extend_from_slice(&half::f16::from_f32(x).to_bits().to_le_bytes())),
        GgmlType::BF16 => data
            .iter()
            .for_each(|&x| out.extend_from_slice(&f32_to_bf16_bits(x).to_le_bytes())),
        GgmlType::Q8_0 => data.chunks_exact(32).for_each(|b| q8_0_block(b, out)),
        GgmlType::Q4_0 => data.chunks_exact(32).for_each(|b| q4_0_block(b, out)),
        GgmlType::Q4_1 => data.chunks_exact(32).for_each(|b| q4_1_block(b, out)),
        _ => unreachable!("checked by can_quantize"),
    }
    Ok(())
}

/// ggml's `ggml_compute_fp32_to_bf16`: round to nearest even, NaN kept quiet.
pub(crate) fn f32_to_bf16_bits(x: f32) -> u16 {
    let u = x.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    ((u as u64 + (0x7fff + ((u >> 16) & 1) as u64)) >> 16) as u16
}

fn push_f16(out: &mut Vec<u8>, x: f32) {
    out.extend_from_slice(&half::f16::from_f32(x).to_bits().to_le_bytes());
}

/// `quantize_row_q8_0_ref`.
fn q8_0_block(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    push_f16(out, d);
    out.extend(x.iter().map(|&v| (v * id).round() as i8 as u8));
}

/// `quantize_row_q4_0_ref`.
fn q4_0_block(x: &[f32], out: &mut Vec<u8>) {
    let mut amax = 0f32;
    let mut max = 0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    push_f16(out, d);
    for j in 0..16 {
        let x0 = ((x[j] * id + 8.5) as i8).clamp(0, 15) as u8;
        let x1 = ((x[j + 16] * id + 8.5) as i8).clamp(0, 15) as u8;
        out.push(x0 | (x1 << 4));
    }
}

/// `quantize_row_q4_1_ref`.
fn q4_1_block(x: &[f32], out: &mut Vec<u8>) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        min = min.min(v);
        max = max.max(v);
    }
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    push_f16(out, d);
    push_f16(out, min);
    for j in 0..16 {
        let x0 = (((x[j] - min) * id + 0.5) as i8).clamp(0, 15) as u8;
        let x1 = (((x[j + 16] - min) * id + 0.5) as i8).clamp(0, 15) as u8;
        out.push(x0 | (x1 << 4));
    }
}
