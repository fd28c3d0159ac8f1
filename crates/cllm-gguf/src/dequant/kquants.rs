//! K-quants: 256-element super-blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K).

use super::f16_at;
use crate::types::QK_K;

/// `block_q2_K { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin; }`.
/// Element `e`: 2 bits at `qs[(e/128)*32 + e%32] >> 2*((e%128)/32)`; sub-block
/// `e/16` has scale `d * (sc & 15)` and minimum `dmin * (sc >> 4)`.
pub(super) fn q2_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(84).zip(dst.chunks_exact_mut(QK_K)) {
        let scales = &b[0..16];
        let qs = &b[16..80];
        let d = f16_at(b, 80);
        let dmin = f16_at(b, 82);
        for (e, ye) in y.iter_mut().enumerate() {
            let (h, j, l) = (e / 128, (e % 128) / 32, e % 32);
            let q = (qs[h * 32 + l] >> (2 * j)) & 3;
            let sc = scales[e / 16];
            let dl = d * (sc & 0x0F) as f32;
            let ml = dmin * (sc >> 4) as f32;
            *ye = dl * q as f32 - ml;
        }
    }
}

/// `block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d; }`.
/// 16 6-bit signed scales (offset 32), 2 low bits as in Q2_K, and a high bit in
/// `hmask[e%32] >> (e/32)` that, when *clear*, subtracts 4.
pub(super) fn q3_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(110).zip(dst.chunks_exact_mut(QK_K)) {
        let hmask = &b[0..32];
        let qs = &b[32..96];
        let sb = &b[96..108];
        let d = f16_at(b, 108);
        let mut dl = [0f32; 16];
        for (s, dls) in dl.iter_mut().enumerate() {
            let low = (sb[s % 8] >> (4 * (s / 8))) & 0x0F;
            let high = (sb[8 + s % 4] >> (2 * (s / 4))) & 0x03;
            let sc = ((low | (high << 4)) as i8 - 32) as f32;
            *dls = d * sc;
        }
        for (e, ye) in y.iter_mut().enumerate() {
            let (h, j, l) = (e / 128, (e % 128) / 32, e % 32);
            let ql = ((qs[h * 32 + l] >> (2 * j)) & 3) as i8;
            let hb = (hmask[l] >> (e / 32)) & 1;
            let q = ql - if hb == 0 { 4 } else { 0 };
            *ye = dl[e / 16] * q as f32;
        }
    }
}

/// Unpacks the 12-byte scale/min table of Q4_K and Q5_K (`get_scale_min_k4`).
#[inline(always)]
fn scale_min_k4(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..4 {
        sc[j] = s[j] & 0x3F;
        mn[j] = s[j + 4] & 0x3F;
        sc[j + 4] = (s[j + 8] & 0x0F) | ((s[j] >> 2) & 0x30);
        mn[j + 4] = (s[j + 8] >> 4) | ((s[j + 4] >> 2) & 0x30);
    }
    (sc, mn)
}

/// `block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128]; }`.
/// Sub-block `i` (32 elements) uses nibble `i%2` of `qs[(i/2)*32 ..][..32]`;
/// `y = d*sc[i] * q - dmin*m[i]`.
pub(super) fn q4_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(144).zip(dst.chunks_exact_mut(QK_K)) {
        let d = f16_at(b, 0);
        let dmin = f16_at(b, 2);
        let (sc, mn) = scale_min_k4(&b[4..16]);
        let qs = &b[16..144];
        for (i, ys) in y.chunks_exact_mut(32).enumerate() {
            let d1 = d * sc[i] as f32;
            let m1 = dmin * mn[i] as f32;
            let q = &qs[(i / 2) * 32..(i / 2) * 32 + 32];
            let shift = 4 * (i % 2);
            for (yl, &ql) in ys.iter_mut().zip(q) {
                *yl = d1 * ((ql >> shift) & 0x0F) as f32 - m1;
            }
        }
    }
}

/// `block_q5_K { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]; }`:
/// Q4_K plus a 5th bit for sub-block `i` in bit `i` of `qh[l]`.
pub(super) fn q5_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(176).zip(dst.chunks_exact_mut(QK_K)) {
        let d = f16_at(b, 0);
        let dmin = f16_at(b, 2);
        let (sc, mn) = scale_min_k4(&b[4..16]);
        let qh = &b[16..48];
        let qs = &b[48..176];
        for (i, ys) in y.chunks_exact_mut(32).enumerate() {
            let d1 = d * sc[i] as f32;
            let m1 = dmin * mn[i] as f32;
            let q = &qs[(i / 2) * 32..(i / 2) * 32 + 32];
            let shift = 4 * (i % 2);
            for l in 0..32 {
                let v = ((q[l] >> shift) & 0x0F) | (((qh[l] >> i) & 1) << 4);
                ys[l] = d1 * v as f32 - m1;
            }
        }
    }
}

/// `block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d; }`:
/// `y = d*scales[e/16] * (q - 32)` with 4 low bits from `ql` and 2 high bits from `qh`.
pub(super) fn q6_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(210).zip(dst.chunks_exact_mut(QK_K)) {
        let ql = &b[0..128];
        let qh = &b[128..192];
        let scales = &b[192..208];
        let d = f16_at(b, 208);
        for h in 0..2 {
            let ql = &ql[h * 64..h * 64 + 64];
            let qh = &qh[h * 32..h * 32 + 32];
            let y = &mut y[h * 128..h * 128 + 128];
            let sc = &scales[h * 8..h * 8 + 8];
            for l in 0..32 {
                let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                let is = l / 16;
                y[l] = d * sc[is] as i8 as f32 * q1 as f32;
                y[l + 32] = d * sc[is + 2] as i8 as f32 * q2 as f32;
                y[l + 64] = d * sc[is + 4] as i8 as f32 * q3 as f32;
                y[l + 96] = d * sc[is + 6] as i8 as f32 * q4 as f32;
            }
        }
    }
}

/// `block_q8_K { f32 d; i8 qs[256]; i16 bsums[16]; }`: `y = d * q` (bsums unused).
pub(super) fn q8_k(src: &[u8], dst: &mut [f32]) {
    for (b, y) in src.chunks_exact(292).zip(dst.chunks_exact_mut(QK_K)) {
        let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        for (yl, &q) in y.iter_mut().zip(&b[4..260]) {
            *yl = d * (q as i8) as f32;
        }
    }
}
