//! The tied-head cross-entropy on host memory, for the CPU backends (Flex, NdArray).
//!
//! burn's chunked form ([`super::tied_head_ce_chunked_generic`]) runs about ten element-wise
//! passes over every `[rows × |C|]` chunk of logits (scale, max, subtract, exp, sum, gather,
//! divide, scatter, product, sum), each a separate tensor with its own allocation, plus the
//! two matrix products. Here every block of rows costs two `gemm` calls and one short walk
//! per row:
//!
//! ```text
//! logits = s · R_b · Cᵀ                                   gemm, [rows × |C|]
//! per row: max, argmax; e = exp(logit − max), z = Σ e;   one buffer, in place
//!          loss += ln z − (logit_t − max)
//!          G = e / (z·n), G_t −= 1/n;  Σ G ⊙ logits for the scale
//! ∂R_b = s · G · C                                        gemm, [rows × d]
//! ∂C  += s · Gᵀ · R_b        (trainable candidates only)  gemm, [|C| × d]
//! ```
//!
//! `C` is read in place through strides (no transposed copy), and on Flex the rows and the
//! candidates are borrowed from the tensors without a copy. The blocks are spread over
//! rayon's thread pool, one single-threaded `gemm` per block, with one logits buffer per task.
//! The row kernels are compiled for AVX2 + FMA and for AVX-512 and chosen at run time (a
//! portable copy otherwise), so the same code runs on CPUs with and without AVX-512.

use std::any::TypeId;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use rayon::prelude::*;

/// Whether `B` keeps its tensors in host memory as plain buffers (Flex, NdArray over f32),
/// so that the host form can run on them.
pub(super) fn runs_on_host<B: Backend>() -> bool {
    let id = TypeId::of::<B>();
    #[cfg(feature = "flex")]
    if id == TypeId::of::<burn::backend::Flex>() {
        return true;
    }
    // the unit tests run NdArray (a dev-dependency) whatever the features
    #[cfg(any(feature = "ndarray", test))]
    if id == TypeId::of::<burn::backend::NdArray<f32>>() {
        return true;
    }
    let _ = id;
    false
}

/// Runs `f` on the values of the f32 tensor `t`, row-major: borrowed when `t` is a
/// contiguous Flex tensor, read back otherwise.
pub(super) fn with_host_values<B: Backend, const D: usize, R>(
    t: Tensor<B, D>,
    f: impl FnOnce(&[f32]) -> R,
) -> R {
    let primitive = t.into_primitive().tensor();
    #[cfg(feature = "flex")]
    if let Some(flex) =
        (&primitive as &dyn std::any::Any).downcast_ref::<burn::backend::flex::FlexTensor>()
    {
        if let Some(values) = flex.as_slice::<f32>() {
            return f(values);
        }
    }
    let values = Tensor::<B, D>::from_primitive(TensorPrimitive::Float(primitive))
        .into_data()
        .into_vec::<f32>()
        .expect("the host form only runs on f32 tensors");
    f(&values)
}

/// A `[rows, cols]` tensor over `values` on `device` (no copy on Flex).
pub(super) fn host_tensor<B: Backend>(
    values: Vec<f32>,
    rows: usize,
    cols: usize,
    device: &B::Device,
) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// Whether the host form can run on tensors of dtype `dtype` on backend `B`.
pub(super) fn takes_host_form<B: Backend>(dtypes: &[DType]) -> bool {
    runs_on_host::<B>() && dtypes.iter().all(|d| *d == DType::F32)
}

/// Rows per block for `n` rows against `c` candidates: blocks of at most about
/// `chunk_logits` logits, as many as there are threads at least and a multiple of their
/// number (each thread takes the same number of blocks, give or take the last short one).
pub(super) fn rows_per_block(n: usize, c: usize, chunk_logits: usize, threads: usize) -> usize {
    let threads = threads.max(1);
    let by_size = (n * c).div_ceil(chunk_logits.max(1));
    let blocks = by_size.max(threads).div_ceil(threads) * threads;
    n.div_ceil(blocks).max(1)
}

/// What the host form computes for the whole batch.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct HostHead {
    /// Mean cross-entropy over the rows.
    pub loss: f64,
    /// `∂L/∂rows`, `[n × d]`.
    pub grad_rows: Vec<f32>,
    /// `∂L/∂cand`, `[c × d]`, when asked for.
    pub grad_cand: Option<Vec<f32>>,
    /// `∂L/∂s`.
    pub grad_scale: f64,
    /// Argmax candidate of every row (the first of equal maxima).
    pub predicted: Vec<i64>,
}

/// What the blocks one task ran add up to.
#[derive(Default)]
struct Partial {
    loss: f64,
    grad_logit_sum: f64,
    /// `s · Σ_blocks Gᵀ · R_b`, `[c × d]`; empty until a block adds to it (or never, when
    /// the candidates' gradient is not asked for).
    grad_cand: Vec<f32>,
}

impl Partial {
    fn merge(mut self, other: Self) -> Self {
        self.loss += other.loss;
        self.grad_logit_sum += other.grad_logit_sum;
        if self.grad_cand.is_empty() {
            self.grad_cand = other.grad_cand;
        } else if !other.grad_cand.is_empty() {
            for (a, b) in self.grad_cand.iter_mut().zip(&other.grad_cand) {
                *a += b;
            }
        }
        self
    }
}

/// The loss, its gradients and the predictions of `rows` (`[n × d]`) against `cand`
/// (`[c × d]`) at scale `scale`, `block` rows at a time (see the module docs). `targets`
/// are positions in `0..c` (the caller checks them) and `rows` holds `targets.len()` rows.
/// With `grad_cand`, also `∂L/∂cand = s · Gᵀ · R` (one more `gemm` per block, summed in
/// one buffer per task).
pub(super) fn tied_head_ce_on_host(
    rows: &[f32],
    cand: &[f32],
    d: usize,
    scale: f32,
    targets: &[i64],
    block: usize,
    grad_cand: bool,
) -> HostHead {
    let n = targets.len();
    let c = cand.len() / d;
    // The unsafe gemm calls below read these buffers through raw pointers: the lengths are
    // checked in release builds too (the tests run in release).
    assert!(d > 0 && cand.len() == c * d, "candidate rows of width {d}");
    assert_eq!(rows.len(), n * d, "rows of width {d} for {n} targets");
    assert!(
        targets.iter().all(|&t| t >= 0 && (t as usize) < c),
        "a target outside the {c} candidates"
    );
    let block = block.clamp(1, n.max(1));
    let inv_n = 1.0 / n as f32;
    let mut grad_rows = vec![0.0f32; n * d];
    let mut predicted = vec![0i64; n];
    let total = grad_rows
        .par_chunks_mut(block * d)
        .zip(predicted.par_chunks_mut(block))
        .zip(rows.par_chunks(block * d).zip(targets.par_chunks(block)))
        .fold(
            || (Vec::new(), Partial::default()),
            |(mut logits, mut acc), ((grad, pred), (rows, targets))| {
                let m = targets.len();
                logits.resize(m * c, 0.0);
                let block_logits = &mut logits[..m * c];
                // logits [m, c] = s · rows [m, d] · Cᵀ (C read through strides)
                // SAFETY: the buffers hold m·d, c·d and m·c values with the strides given.
                unsafe {
                    gemm::gemm(
                        m,
                        c,
                        d,
                        block_logits.as_mut_ptr(),
                        1,
                        c as isize,
                        false,
                        rows.as_ptr(),
                        1,
                        d as isize,
                        cand.as_ptr(),
                        d as isize,
                        1,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for ((row, &t), p) in block_logits
                    .chunks_exact_mut(c)
                    .zip(targets)
                    .zip(pred.iter_mut())
                {
                    let r = kernels::softmax_grad_row(row, t as usize, inv_n);
                    acc.loss += r.ce;
                    acc.grad_logit_sum += r.grad_dot_logits;
                    *p = r.argmax as i64;
                }
                // grad [m, d] = s · G [m, c] · C [c, d]
                // SAFETY: as above.
                unsafe {
                    gemm::gemm(
                        m,
                        d,
                        c,
                        grad.as_mut_ptr(),
                        1,
                        d as isize,
                        false,
                        block_logits.as_ptr(),
                        1,
                        c as isize,
                        cand.as_ptr(),
                        1,
                        d as isize,
                        0.0,
                        scale,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                if grad_cand {
                    let first = acc.grad_cand.is_empty();
                    if first {
                        acc.grad_cand = vec![0.0; c * d];
                    }
                    // grad_cand [c, d] (+)= s · Gᵀ [c, m] · rows [m, d] (G read through strides)
                    // SAFETY: as above; the accumulator holds c·d values.
                    unsafe {
                        gemm::gemm(
                            c,
                            d,
                            m,
                            acc.grad_cand.as_mut_ptr(),
                            1,
                            d as isize,
                            !first,
                            block_logits.as_ptr(),
                            c as isize,
                            1,
                            rows.as_ptr(),
                            1,
                            d as isize,
                            1.0,
                            scale,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
                (logits, acc)
            },
        )
        .map(|(_, acc)| acc)
        .reduce(Partial::default, Partial::merge);
    HostHead {
        loss: total.loss / n as f64,
        grad_rows,
        grad_cand: grad_cand.then(|| {
            if total.grad_cand.is_empty() {
                vec![0.0; c * d]
            } else {
                total.grad_cand
            }
        }),
        // Σ G ⊙ logits = Σ G ⊙ (s·R·Cᵀ), so ∂L/∂s = Σ G ⊙ logits / s
        grad_scale: total.grad_logit_sum / f64::from(scale),
        predicted,
    }
}

/// Row kernels, compiled for AVX-512 and for AVX2 + FMA when the CPU has them (chosen at
/// run time), with a portable copy.
mod kernels {
    use cllm_backend::simd::exp;
    use cllm_backend::simd::{row_max, LANES};
    use cllm_backend::simd_dispatch as dispatch;

    /// What one row contributes.
    pub(super) struct RowResult {
        /// `ln Σ exp(logit − max) − (logit_target − max)`: the row's cross-entropy.
        pub ce: f64,
        /// `Σ_j G_j · logit_j` for the row.
        pub grad_dot_logits: f64,
        /// The first position of the largest logit.
        pub argmax: usize,
    }

    dispatch!(pub(super) softmax_grad_row(row: &mut [f32], target: usize, inv_n: f32) -> RowResult {
        // the largest logit and its first position
        let max = row_max(row);
        let argmax = row.iter().position(|&v| v == max).unwrap_or(0);
        let shifted_target = row[target] - max;
        // e = exp(logit − max) in place; z = Σ e, ez = Σ e · (logit − max)
        let mut z = [0.0f32; LANES];
        let mut ez = [0.0f32; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for c in &mut chunks {
            for ((v, z), ez) in c.iter_mut().zip(z.iter_mut()).zip(ez.iter_mut()) {
                let x = *v - max;
                let e = exp(x);
                *v = e;
                *z += e;
                *ez = e.mul_add(x, *ez);
            }
        }
        let mut z_total: f32 = z.iter().sum();
        let mut ez_total: f32 = ez.iter().sum();
        for v in chunks.into_remainder() {
            let x = *v - max;
            let e = exp(x);
            *v = e;
            z_total += e;
            ez_total = e.mul_add(x, ez_total);
        }
        // G = e / (z·n), minus 1/n at the target
        let k = inv_n / z_total;
        for v in row.iter_mut() {
            *v *= k;
        }
        row[target] -= inv_n;
        // Σ G ⊙ logits = Σ G ⊙ (logits − max) (G sums to zero)
        //              = (Σ e·(logit − max) / z − (logit_t − max)) / n
        RowResult {
            ce: f64::from(z_total).ln() - f64::from(shifted_target),
            grad_dot_logits: (f64::from(ez_total) / f64::from(z_total) - f64::from(shifted_target))
                * f64::from(inv_n),
            argmax,
        }
    });

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn blocks_are_shared_evenly_by_the_threads() {
            use super::super::rows_per_block;
            // a bench_step batch on 2 threads: 10 blocks of 410 rows (the last 406)
            assert_eq!(rows_per_block(4096, 9576, 1 << 22, 2), 410);
            // 16 threads: at least one block each
            assert_eq!(rows_per_block(4096, 9576, 1 << 22, 16), 256);
            // the unit tests' chunks of 5 rows of 37 on 2 threads: 8 blocks, the last short
            assert_eq!(rows_per_block(37, 23, 5 * 23, 2), 5);
            assert_eq!(rows_per_block(1, 23, 1, 8), 1);
        }

        /// One row against its f64 definition, with a length that leaves a remainder
        /// after the 16-lane loop and a target that is not the argmax.
        #[test]
        fn one_row_matches_its_definition() {
            let logits: Vec<f32> = (0..37)
                .map(|j| ((j * 13) % 17) as f32 * 0.7 - 4.0)
                .collect();
            let (target, inv_n) = (5usize, 0.25f32);
            let mut row = logits.clone();
            let r = softmax_grad_row(&mut row, target, inv_n);
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let z: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
            let ce = z.ln() - f64::from(logits[target] - max);
            assert!((r.ce - ce).abs() < 1e-5, "{} vs {ce}", r.ce);
            assert_eq!(r.argmax, logits.iter().position(|&l| l == max).unwrap());
            let mut dot = 0.0;
            for (j, (&g, &l)) in row.iter().zip(&logits).enumerate() {
                let want = (f64::from(l - max).exp() / z - f64::from(u8::from(j == target)))
                    * f64::from(inv_n);
                assert!((f64::from(g) - want).abs() < 1e-6, "G[{j}] {g} vs {want}");
                dot += want * f64::from(l);
            }
            assert!(
                (r.grad_dot_logits - dot).abs() < 1e-5,
                "{} vs {dot}",
                r.grad_dot_logits
            );
        }
    }
}
