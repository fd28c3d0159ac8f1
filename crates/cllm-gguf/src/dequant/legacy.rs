//! The original 32-element block quants: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0.

use super::f16_at;

const QK: usize = 32;

/// `block_q4_0 { f16 d; u8 qs[16]; }`: `y = d * (q - 8)`; low nibbles are elements
/// 0..16, high nibbles 16..32.
pub(super) fn q4_0(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(18).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        let qs = &b[2..18];
        for j in 0..16 {
            y[j] = d * ((qs[j] & 0x0F) as i32 - 8) as f32;
            y[j + 16] = d * ((qs[j] >> 4) as i32 - 8) as f32;
        }
    }
}

/// `block_q4_1 { f16 d; f16 m; u8 qs[16]; }`: `y = d * q + m`.
pub(super) fn q4_1(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(20).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        let m = f16_at(b, 2);
        let qs = &b[4..20];
        for j in 0..16 {
            y[j] = d * (qs[j] & 0x0F) as f32 + m;
            y[j + 16] = d * (qs[j] >> 4) as f32 + m;
        }
    }
}

/// `block_q5_0 { f16 d; u8 qh[4]; u8 qs[16]; }`: 5th bits of element `i` in bit `i`
/// of `qh`; `y = d * (q - 16)`.
pub(super) fn q5_0(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(22).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let qs = &b[6..22];
        for j in 0..16 {
            let h0 = ((qh >> j) & 1) << 4;
            let h1 = ((qh >> (j + 16)) & 1) << 4;
            y[j] = d * (((qs[j] & 0x0F) as u32 | h0) as i32 - 16) as f32;
            y[j + 16] = d * (((qs[j] >> 4) as u32 | h1) as i32 - 16) as f32;
        }
    }
}

/// `block_q5_1 { f16 d; f16 m; u8 qh[4]; u8 qs[16]; }`: `y = d * q + m`.
pub(super) fn q5_1(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(24).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        let m = f16_at(b, 2);
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let qs = &b[8..24];
        for j in 0..16 {
            let h0 = ((qh >> j) & 1) << 4;
            let h1 = ((qh >> (j + 16)) & 1) << 4;
            y[j] = d * ((qs[j] & 0x0F) as u32 | h0) as f32 + m;
            y[j + 16] = d * ((qs[j] >> 4) as u32 | h1) as f32 + m;
        }
    }
}

/// `block_q8_0 { f16 d; i8 qs[32]; }`: `y = d * q`.
pub(super) fn q8_0(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(34).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        for (yj, &q) in y.iter_mut().zip(&b[2..34]) {
            *yj = d * (q as i8) as f32;
        }
    }
}
