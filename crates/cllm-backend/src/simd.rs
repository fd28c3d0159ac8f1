//! Building blocks of the CPU backends' host kernels (the llama blocks in `cllm-backbone`,
//! the tied-head cross-entropy in `cllm-autoencoder`): a run-time dispatch of a row kernel to
//! the widest vector unit the CPU has, and an `exp` that vectorises.
//!
//! Kernels are written as plain loops over 16-lane accumulators; the compiler vectorises
//! them once per copy. The copies differ in instructions only, not in the order of the
//! arithmetic, so every copy gives the same bits.

/// Defines `$vis fn $name(args) -> ret` that runs `$body` through a copy compiled for
/// AVX-512 (F, VL) + FMA or AVX2 + FMA when the CPU has them (checked at run time), or a
/// portable copy.
///
/// ```
/// cllm_backend::simd_dispatch!(pub(crate) sum_of_squares(x: &[f32]) -> f32 {
///     x.iter().map(|v| v * v).sum()
/// });
/// assert_eq!(sum_of_squares(&[3.0, 4.0]), 25.0);
/// ```
#[macro_export]
macro_rules! simd_dispatch {
    ($vis:vis $name:ident ( $($arg:ident : $ty:ty),* ) -> $ret:ty $body:block) => {
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn body($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) -> $ret { body($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) -> $ret { body($($arg),*) }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512vl")
                    && std::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `avx512` was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU has the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

/// The copy [`simd_dispatch!`] runs on this CPU: `"avx512"`, `"avx2"` or `"portable"`
/// (what benchmarks print beside their figures).
pub fn level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("fma")
        {
            return "avx512";
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return "avx2";
        }
    }
    "portable"
}

/// Lanes of a kernel's accumulators (one AVX-512 register, two AVX2 registers).
pub const LANES: usize = 16;

/// The largest value of `row` (−∞ for an empty row), over [`LANES`] accumulators so that
/// it vectorises inside a [`simd_dispatch!`] kernel.
#[inline(always)]
pub fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(c) {
            *m = m.max(*v);
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b))
}

/// `e^x` for `x` in f32 range (Cephes' `expf`: a degree-6 polynomial on `[-ln2/2, ln2/2]`
/// after a two-constant reduction; within 2 ulp of the correctly rounded value),
/// branch-free so that it vectorises; saturates instead of overflowing.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.336_54, 88.376_26);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let p = p.mul_add(r * r, r) + 1.0;
    p * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

#[cfg(test)]
mod tests {
    use super::{exp, level, row_max};

    /// Every copy must give the bits of the portable one (same arithmetic order): the
    /// dispatched kernel against the portable body, on this CPU's level.
    #[test]
    fn the_dispatched_copy_gives_the_portable_bits() {
        crate::simd_dispatch!(dot(a: &[f32], b: &[f32]) -> f32 {
            let mut lanes = [0.0f32; super::LANES];
            for (ca, cb) in a.chunks_exact(super::LANES).zip(b.chunks_exact(super::LANES)) {
                for ((s, x), y) in lanes.iter_mut().zip(ca).zip(cb) {
                    *s = x.mul_add(*y, *s);
                }
            }
            lanes.iter().sum()
        });
        let a: Vec<f32> = (0..256)
            .map(|i| ((i * 37) % 101) as f32 * 0.013 - 0.6)
            .collect();
        let b: Vec<f32> = (0..256)
            .map(|i| ((i * 53) % 97) as f32 * 0.021 - 1.0)
            .collect();
        let mut portable = [0.0f32; super::LANES];
        for (ca, cb) in a
            .chunks_exact(super::LANES)
            .zip(b.chunks_exact(super::LANES))
        {
            for ((s, x), y) in portable.iter_mut().zip(ca).zip(cb) {
                *s = x.mul_add(*y, *s);
            }
        }
        let want: f32 = portable.iter().sum();
        // printed so that a run under an emulated CPU shows which copy it exercised
        eprintln!("simd level: {}", level());
        assert_eq!(dot(&a, &b).to_bits(), want.to_bits());
    }

    #[test]
    fn row_max_covers_the_lanes_and_the_remainder() {
        let row: Vec<f32> = (0..37).map(|i| ((i * 7) % 37) as f32).collect();
        assert_eq!(row_max(&row), 36.0);
        assert_eq!(
            row_max(&row[..16]),
            row[..16].iter().copied().fold(f32::MIN, f32::max)
        );
        assert_eq!(row_max(&[]), f32::NEG_INFINITY);
    }

    /// Against the f64 exponential rounded to f32, over the range softmax and SiLU use.
    #[test]
    fn exp_is_within_two_ulp_of_f64() {
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let want = (x as f64).exp() as f32;
            let got = exp(x);
            let ulp = want.to_bits().abs_diff(got.to_bits());
            assert!(ulp <= 2, "exp({x}) = {got}, want {want}");
        }
    }

    #[test]
    fn exp_saturates_instead_of_overflowing() {
        assert!(exp(-1e4) >= 0.0 && exp(-1e4) < 1e-37);
        assert!(exp(1e4).is_finite());
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
    }
}
