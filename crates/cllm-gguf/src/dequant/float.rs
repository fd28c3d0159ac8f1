//! Plain (block size 1) float and integer types.

fn convert<const N: usize>(src: &[u8], dst: &mut [f32], f: impl Fn([u8; N]) -> f32) {
    for (s, d) in src.chunks_exact(N).zip(dst.iter_mut()) {
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        *d = f(a);
    }
}

pub(super) fn f32s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, f32::from_le_bytes);
}

pub(super) fn f16s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, |b| {
        half::f16::from_bits(u16::from_le_bytes(b)).to_f32()
    });
}

pub(super) fn bf16s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, |b| {
        f32::from_bits((u16::from_le_bytes(b) as u32) << 16)
    });
}

pub(super) fn f64s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, |b| f64::from_le_bytes(b) as f32);
}

pub(super) fn i8s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, |b: [u8; 1]| b[0] as i8 as f32);
}

pub(super) fn i16s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, |b| i16::from_le_bytes(b) as f32);
}

pub(super) fn i32s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, |b| i32::from_le_bytes(b) as f32);
}

pub(super) fn i64s(src: &[u8], dst: &mut [f32]) {
    convert(src, dst, |b| i64::from_le_bytes(b) as f32);
}
