//! The tied-head cross-entropy for training, computed chunk by chunk with its gradient
//! formed in the forward pass (a "fused linear cross-entropy").
//!
//! The plain form ([`crate::loss::tied_head_ce`]) materialises the logits
//! `exp(s) · rows · Cᵀ` for every position at once (`[n × |C|]`: 4,096 × 9,576 floats,
//! 157 MB, for a batch of 16 recipes of 256 tokens), keeps them and the softmax for the
//! backward pass, and lets autodiff walk through half a dozen element-wise passes over that
//! matrix twice: more than half of a CPU training step (`docs/benchmarks.md`).
//!
//! [`tied_head_ce_chunked`] computes the same loss in row chunks of about
//! [`DEFAULT_CHUNK_LOGITS`] logits on the backend *without* autodiff and, while each chunk's
//! softmax is at hand, its exact gradients:
//!
//! ```text
//! G       = (softmax(logits) − onehot(targets)) / n         per chunk, [rows × |C|]
//! ∂L/∂rows = exp(s) · G · C          ∂L/∂exp(s) = Σ G ⊙ logits / exp(s)
//! ```
//!
//! It hands them to autodiff through a surrogate whose value is zero and whose gradient is
//! exactly those tensors, `Σ rows ⊙ sg(∂L/∂rows) + exp(s) · sg(∂L/∂exp(s))` (sg = stop
//! gradient), plus the loss value as a constant. Nothing of size `n × |C|` outlives a chunk
//! and the backward pass of the head is one element-wise product. The candidates `C` are
//! usually constants (the frozen embedding table); when they require a gradient (the
//! autoregressive decoder's folded head, [`crate::ar::ArDecoder::head_candidates`]) each
//! chunk also adds `∂L/∂C = exp(s) · Gᵀ · rows`, handed over the same way. Tested against
//! an f64 reference: same loss, same gradients for the rows, the candidates and the scale,
//! same predictions.
//!
//! The chunks are computed in one of two ways:
//!
//! - on the CPU backends (Flex, NdArray over f32), on host memory (the `host` submodule):
//!   per block of rows, one `gemm` for the logits, one walk per row (max, exp, sum, loss,
//!   argmax, `G` in place, `Σ G ⊙ logits`) and one `gemm` for `G · C`, the blocks spread over
//!   the threads; `C` is read where it lies (borrowed on Flex, no transposed copy);
//! - elsewhere (GPUs), in burn tensor operations ([`tied_head_ce_chunked_generic`]): about
//!   ten element-wise passes over each chunk besides the two matrix products.

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};

use crate::loss::tied_head_ce;

mod host;

/// Logits per chunk (4 Mi floats, 16 MiB): large enough for efficient matrix products,
/// small enough that a chunk's element-wise passes stay in cache-friendly sizes.
pub const DEFAULT_CHUNK_LOGITS: usize = 1 << 22;

/// Token cross-entropy of `rows` (`[n, d]`) against candidate rows `cand` (`[c, d]`:
/// constants, or parameters whose gradient is then formed too) with a positive scale
/// `scale` (`[1]`) and `targets` (`[n]` positions in `cand`), computed in chunks of about
/// `chunk_logits` logits with the gradient formed in the forward pass (see the module
/// docs). Returns the mean loss and the argmax predictions, like [`tied_head_ce`].
///
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::{Int, Tensor};
/// use cllm_autoencoder::head_ce::tied_head_ce_chunked;
///
/// type B = Autodiff<NdArray>;
/// let dev = Default::default();
/// let cand = Tensor::<B, 2>::from_data([[1.0f32, 0.0], [0.0, 1.0], [-1.0, 0.0]], &dev);
/// let rows = Tensor::<B, 2>::from_data([[0.9f32, 0.1], [-1.0, 0.0]], &dev).require_grad();
/// let scale = Tensor::<B, 1>::from_data([10.0f32], &dev);
/// let targets = Tensor::<B, 1, Int>::from_data([0, 2], &dev);
/// let (loss, predicted) = tied_head_ce_chunked(rows.clone(), cand, scale, targets, 3);
/// assert!(loss.clone().into_scalar() < 0.01);
/// assert_eq!(predicted.into_data().to_vec::<i64>().unwrap(), vec![0, 2]);
/// let grads = loss.backward();
/// assert_eq!(rows.grad(&grads).unwrap().dims(), [2, 2]);
/// ```
pub fn tied_head_ce_chunked<B: AutodiffBackend>(
    rows: Tensor<B, 2>,
    cand: Tensor<B, 2>,
    scale: Tensor<B, 1>,
    targets: Tensor<B, 1, Int>,
    chunk_logits: usize,
) -> (Tensor<B, 1>, Tensor<B, 1, Int>) {
    let trainable = cand.is_require_grad();
    tied_head_ce_chunked_with(rows, cand, trainable, scale, targets, chunk_logits)
}

/// [`tied_head_ce_chunked`] with the candidates' gradient formed when `trainable` says so:
/// for candidates computed from parameters (burn's `is_require_grad` is true for
/// parameters themselves only, not for what is computed from them).
pub fn tied_head_ce_chunked_with<B: AutodiffBackend>(
    rows: Tensor<B, 2>,
    cand: Tensor<B, 2>,
    trainable: bool,
    scale: Tensor<B, 1>,
    targets: Tensor<B, 1, Int>,
    chunk_logits: usize,
) -> (Tensor<B, 1>, Tensor<B, 1, Int>) {
    let [n, d] = rows.dims();
    let [c, _] = cand.dims();
    if n == 0 || c == 0 {
        return tied_head_ce(rows, cand, scale, targets);
    }
    if !host::takes_host_form::<B::InnerBackend>(&[rows.dtype(), cand.dtype(), scale.dtype()]) {
        return chunked_generic(rows, cand, trainable, scale, targets, chunk_logits);
    }
    let device = rows.device();
    let ids = targets
        .clone()
        .inner()
        .into_data()
        .convert::<i64>()
        .into_vec::<i64>()
        .unwrap_or_default();
    if ids.len() != n || ids.iter().any(|&t| t < 0 || t as usize >= c) {
        // burn's form reports the bad target its way
        return chunked_generic(rows, cand, trainable, scale, targets, chunk_logits);
    }
    let s = host::with_host_values(scale.clone().inner(), |v| v[0]);
    let block = host::rows_per_block(n, c, chunk_logits, rayon::current_num_threads());
    let head = host::with_host_values(rows.clone().inner(), |r| {
        host::with_host_values(cand.clone().inner(), |cv| {
            host::tied_head_ce_on_host(r, cv, d, s, &ids, block, trainable)
        })
    });
    let grads = HeadGradients {
        rows: host::host_tensor::<B::InnerBackend>(head.grad_rows, n, d, &device),
        cand: head
            .grad_cand
            .map(|g| host::host_tensor::<B::InnerBackend>(g, c, d, &device)),
        scale: Tensor::from_data([head.grad_scale as f32], &device),
    };
    let ce = Tensor::from_data([head.loss as f32], &device);
    let predicted = Tensor::from_data(TensorData::new(head.predicted, [n]), &device);
    (hand_to_autodiff(rows, cand, scale, grads, ce), predicted)
}

/// [`tied_head_ce_chunked`] in burn tensor operations, on any backend: what it runs off
/// the CPU backends (and the reference its host form is tested against).
pub fn tied_head_ce_chunked_generic<B: AutodiffBackend>(
    rows: Tensor<B, 2>,
    cand: Tensor<B, 2>,
    scale: Tensor<B, 1>,
    targets: Tensor<B, 1, Int>,
    chunk_logits: usize,
) -> (Tensor<B, 1>, Tensor<B, 1, Int>) {
    let trainable = cand.is_require_grad();
    chunked_generic(rows, cand, trainable, scale, targets, chunk_logits)
}

fn chunked_generic<B: AutodiffBackend>(
    rows: Tensor<B, 2>,
    cand: Tensor<B, 2>,
    trainable: bool,
    scale: Tensor<B, 1>,
    targets: Tensor<B, 1, Int>,
    chunk_logits: usize,
) -> (Tensor<B, 1>, Tensor<B, 1, Int>) {
    let [n, _] = rows.dims();
    let [c, _] = cand.dims();
    if n == 0 || c == 0 {
        return tied_head_ce(rows, cand, scale, targets);
    }
    let device = rows.device();
    let rows_in = rows.clone().inner();
    let cand_in = cand.clone().inner();
    let cand_t = cand_in.clone().transpose();
    let s_in = scale.clone().inner(); // [1]
    let s_col = s_in.clone().unsqueeze::<2>(); // [1, 1]
    let targets_in = targets.inner();
    let per_chunk = (chunk_logits / c).clamp(1, n);
    let inv_n = 1.0 / n as f64;

    let chunks = n.div_ceil(per_chunk);
    let mut ce_sums = Vec::with_capacity(chunks);
    let mut grad_scale_sums = Vec::with_capacity(chunks);
    let mut grad_rows = Vec::with_capacity(chunks);
    let mut predicted = Vec::with_capacity(chunks);
    let mut grad_cand: Option<Tensor<B::InnerBackend, 2>> = None;
    for start in (0..n).step_by(per_chunk) {
        let len = per_chunk.min(n - start);
        let logits = (rows_in.clone().narrow(0, start, len) * s_col.clone()).matmul(cand_t.clone());
        let t = targets_in.clone().narrow(0, start, len).reshape([len, 1]);
        let (max, argmax) = logits.clone().max_dim_with_indices(1); // [len, 1]
        let e = (logits.clone() - max.clone()).exp();
        let z = e.clone().sum_dim(1); // [len, 1]
        let picked = logits.clone().gather(1, t.clone());
        ce_sums.push((max + z.clone().log() - picked).sum());
        let minus_one = Tensor::full([len, 1], -1.0, &device);
        let g = (e / z).scatter(1, t, minus_one, IndexingUpdateOp::Add) * inv_n;
        grad_scale_sums.push((g.clone() * logits).sum());
        if trainable {
            let rows_chunk = rows_in.clone().narrow(0, start, len);
            let part = g.clone().transpose().matmul(rows_chunk) * s_col.clone();
            grad_cand = Some(match grad_cand {
                Some(sum) => sum + part,
                None => part,
            });
        }
        grad_rows.push(g.matmul(cand_in.clone()) * s_col.clone());
        predicted.push(argmax.reshape([len]));
    }
    let ce = Tensor::cat(ce_sums, 0).sum() * inv_n;
    let grads = HeadGradients {
        rows: Tensor::cat(grad_rows, 0),
        cand: grad_cand,
        scale: Tensor::cat(grad_scale_sums, 0).sum() / s_in,
    };
    (
        hand_to_autodiff(rows, cand, scale, grads, ce),
        Tensor::from_inner(Tensor::cat(predicted, 0)),
    )
}

/// The head's gradients, formed in the forward pass.
struct HeadGradients<B: Backend> {
    rows: Tensor<B, 2>,
    /// Present when the candidates are trainable.
    cand: Option<Tensor<B, 2>>,
    scale: Tensor<B, 1>,
}

/// The loss value `ce` with the gradients `grads` for `rows`, `cand` (when trainable) and
/// `scale`: `Σ rows ⊙ sg(∂rows) [+ Σ cand ⊙ sg(∂cand)] + scale · sg(∂scale)`, minus its own
/// value, plus `ce`.
fn hand_to_autodiff<B: AutodiffBackend>(
    rows: Tensor<B, 2>,
    cand: Tensor<B, 2>,
    scale: Tensor<B, 1>,
    grads: HeadGradients<B::InnerBackend>,
    ce: Tensor<B::InnerBackend, 1>,
) -> Tensor<B, 1> {
    let mut surrogate = (rows * Tensor::from_inner(grads.rows)).sum()
        + scale * Tensor::<B, 1>::from_inner(grads.scale);
    if let Some(grad_cand) = grads.cand {
        surrogate = surrogate + (cand * Tensor::from_inner(grad_cand)).sum();
    }
    surrogate.clone() - surrogate.detach() + Tensor::from_inner(ce)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{ElementConversion, TensorData};
    use rand::SeedableRng;

    use crate::batch::normal_noise;

    /// What a form gives: loss, row gradients, candidate gradients (trainable candidates
    /// only), log-scale gradient, predictions.
    struct Outcome {
        loss: f64,
        g_rows: Vec<f64>,
        g_cand: Option<Vec<f64>>,
        g_log_s: f64,
        predicted: Vec<i64>,
    }

    /// Loss, row gradients, candidate gradients and log-scale gradient of the tied-head
    /// cross-entropy in f64: `logits = s·R·Cᵀ`, `L = mean(lse − picked)`,
    /// `G = (softmax − onehot)/n`, `∂L/∂R = s·G·C`, `∂L/∂C = s·Gᵀ·R`,
    /// `∂L/∂log s = Σ G ⊙ logits`.
    fn reference(
        rows: &[f32],
        cand: &[f32],
        targets: &[usize],
        log_s: f64,
        d: usize,
    ) -> (f64, Vec<f64>, Vec<f64>, f64) {
        let (n, c) = (targets.len(), cand.len() / d);
        let s = log_s.exp();
        let (mut loss, mut g_rows, mut g_log_s) = (0.0, vec![0.0; n * d], 0.0);
        let mut g_cand = vec![0.0; c * d];
        for i in 0..n {
            let logits: Vec<f64> = (0..c)
                .map(|j| {
                    s * (0..d)
                        .map(|t| f64::from(rows[i * d + t]) * f64::from(cand[j * d + t]))
                        .sum::<f64>()
                })
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            loss += (max + z.ln() - logits[targets[i]]) / n as f64;
            for j in 0..c {
                let g =
                    ((logits[j] - max).exp() / z - f64::from(u8::from(j == targets[i]))) / n as f64;
                g_log_s += g * logits[j];
                for t in 0..d {
                    g_rows[i * d + t] += s * g * f64::from(cand[j * d + t]);
                    g_cand[j * d + t] += s * g * f64::from(rows[i * d + t]);
                }
            }
        }
        (loss, g_rows, g_cand, g_log_s)
    }

    /// The forms of the head: the plain one, and the chunked one with `chunk` logits per
    /// chunk, through the dispatch (the host form on the CPU backends) or in burn operations.
    #[derive(Debug, Clone, Copy)]
    enum Form {
        Plain,
        Chunked(usize),
        Generic(usize),
    }

    /// What one form gives on `B`, with constant or trainable candidates.
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        rows: &[f32],
        cand: &[f32],
        targets: &[usize],
        log_s: f32,
        d: usize,
        form: Form,
        trainable: bool,
    ) -> Outcome {
        let dev = Default::default();
        let (n, c) = (targets.len(), cand.len() / d);
        let mut cand = Tensor::<B, 2>::from_data(TensorData::new(cand.to_vec(), [c, d]), &dev);
        if trainable {
            cand = cand.require_grad();
        }
        let rows =
            Tensor::<B, 2>::from_data(TensorData::new(rows.to_vec(), [n, d]), &dev).require_grad();
        let log_s = Tensor::<B, 1>::from_data([log_s], &dev).require_grad();
        let ids: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [n]), &dev);
        let scale = log_s.clone().exp();
        let c_in = cand.clone();
        let (loss, pred) = match form {
            Form::Plain => tied_head_ce(rows.clone(), c_in, scale, targets),
            Form::Chunked(ch) => tied_head_ce_chunked(rows.clone(), c_in, scale, targets, ch),
            Form::Generic(ch) => {
                tied_head_ce_chunked_generic(rows.clone(), c_in, scale, targets, ch)
            }
        };
        let value = f64::from(loss.clone().into_scalar().elem::<f32>());
        let grads = loss.backward();
        let to_f64 =
            |t: Tensor<B::InnerBackend, 2>| t.into_data().convert::<f64>().to_vec::<f64>().unwrap();
        let g_s = log_s.grad(&grads).unwrap().into_data().convert::<f64>();
        Outcome {
            loss: value,
            g_rows: to_f64(rows.grad(&grads).unwrap()),
            g_cand: cand.grad(&grads).map(to_f64),
            g_log_s: g_s.to_vec::<f64>().unwrap()[0],
            predicted: pred.into_data().convert::<i64>().to_vec::<i64>().unwrap(),
        }
    }

    /// Largest absolute difference of two gradients, and the largest entry of the second.
    fn worst_of(got: &[f64], want: &[f64]) -> (f64, f64) {
        let worst = got
            .iter()
            .zip(want)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        (worst, want.iter().fold(0.0f64, |m, v| m.max(v.abs())))
    }

    /// Every form against the f64 reference, on the default CPU backend and on NdArray.
    ///
    /// Tolerances: each f32 logit is a dot product of d = 8 terms times the scale, with
    /// |logit| ≤ ~30, so its rounding error is below 8·2⁻²⁴·30 ≈ 1.5e-5; the loss (a mean of
    /// log-sum-exp minus a logit) inherits about twice that: 1e-4 absolute is safe and a
    /// wrong formula is off by O(1). burn's forms on NdArray take their gradients through
    /// NdArray's SIMD reciprocal in the backward of `log` and `div` (its `simd` feature:
    /// `rcp` instructions, 12 bits on AVX2, 14 on AVX-512, relative error up to 1.5·2⁻¹²),
    /// so they are compared at `generic_tol` = 1e-3 of the largest entry there; Flex divides
    /// exactly and meets 1e-4. The host form divides exactly on both backends; its exp is
    /// within 2 ulp, each entry of G carries a few f32 roundings (≈1e-6 relative) and
    /// `∂R = s·G·C` sums c = 23 such products, so it meets 1e-4 of the largest entry with
    /// two orders of magnitude to spare, whatever the vector width.
    /// With trainable candidates, `∂C = s·Gᵀ·R` sums n = 37 products of the same kind as
    /// `∂R`'s 23, and is held to the same bounds.
    fn check_against_reference<B: burn::tensor::backend::AutodiffBackend>(generic_tol: f64) {
        let (n, c, d) = (37, 23, 8);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let cand = normal_noise(c * d, &mut rng);
        let rows = normal_noise(n * d, &mut rng);
        let targets: Vec<usize> = (0..n).map(|i| (i * 7) % c).collect();
        let log_s = 1.3f32;
        let (v_ref, g_ref, gc_ref, gs_ref) = reference(&rows, &cand, &targets, f64::from(log_s), d);
        let mut preds = Vec::new();
        // at most 5 rows per chunk (on 2 threads: 8 chunks, the last one short), and one chunk
        // (on the host: one per thread)
        for trainable in [false, true] {
            for form in [
                Form::Plain,
                Form::Generic(5 * c),
                Form::Generic(1 << 20),
                Form::Chunked(5 * c),
                Form::Chunked(1 << 20),
            ] {
                let grad_tol = match form {
                    Form::Chunked(_) => 1e-4,
                    _ => generic_tol,
                };
                let got = run::<B>(&rows, &cand, &targets, log_s, d, form, trainable);
                assert!(
                    (got.loss - v_ref).abs() < 1e-4,
                    "{form:?}: loss {} vs f64 {v_ref}",
                    got.loss
                );
                let (worst, g_max) = worst_of(&got.g_rows, &g_ref);
                assert!(
                    worst < grad_tol * g_max,
                    "{form:?}: row gradient off by {worst} (largest {g_max})"
                );
                match (&got.g_cand, trainable) {
                    (Some(g_cand), true) => {
                        let (worst, g_max) = worst_of(g_cand, &gc_ref);
                        assert!(
                            worst < grad_tol * g_max,
                            "{form:?}: candidate gradient off by {worst} (largest {g_max})"
                        );
                    }
                    (None, false) => {}
                    (g, _) => panic!("{form:?}: candidate gradient {:?}", g.is_some()),
                }
                assert!(
                    (got.g_log_s - gs_ref).abs() < grad_tol * gs_ref.abs().max(1.0),
                    "{form:?}: log-scale gradient {} vs f64 {gs_ref}",
                    got.g_log_s
                );
                preds.push(got.predicted);
            }
        }
        assert!(preds.windows(2).all(|w| w[0] == w[1]), "same predictions");
    }

    #[test]
    fn every_form_matches_an_f64_reference_on_the_cpu_backend() {
        assert!(
            host::runs_on_host::<cllm_backbone::device::CpuBackend>(),
            "the default CPU backend takes the host form"
        );
        check_against_reference::<crate::CpuTrainBackend>(1e-4);
    }

    #[test]
    fn every_form_matches_an_f64_reference_on_ndarray() {
        assert!(
            host::runs_on_host::<NdArray>(),
            "NdArray takes the host form"
        );
        check_against_reference::<Autodiff<NdArray>>(1e-3);
    }

    /// The host form and burn's chunked form agree at a size where the vector loops, the
    /// blocks and the thread pool all take part: 301 rows (blocks of at most 64, the last one
    /// short) of width 64 against 1,000 candidates.
    ///
    /// Both run in f32 with different summation orders. The logits are dot products of 64
    /// terms of order 0.3² times s = e^0.5, |logit| ≲ 10, each within ~64·2⁻²⁴·10 ≈ 4e-5 of
    /// exact in either form; the loss differs by about that (bound 1e-4 absolute), G by a
    /// few 1e-5 relative per entry, and `∂R` (sums of 1,000 products G·C) by well under
    /// 1e-3 of its largest entry. The predictions may only differ on rows whose two best
    /// candidates are within rounding of each other: checked on the f64 logits.
    #[test]
    fn host_form_agrees_with_burns_chunked_form() {
        type F = crate::CpuTrainBackend;
        let (n, c, d) = (301, 1000, 64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let cand: Vec<f32> = normal_noise(c * d, &mut rng)
            .iter()
            .map(|v| v * 0.3)
            .collect();
        let rows: Vec<f32> = normal_noise(n * d, &mut rng)
            .iter()
            .map(|v| v * 0.3)
            .collect();
        let targets: Vec<usize> = (0..n).map(|i| (i * 37 + 5) % c).collect();
        let log_s = 0.5f32;
        let [host, burn] = [Form::Chunked(64 * c), Form::Generic(64 * c)]
            .map(|form| run::<F>(&rows, &cand, &targets, log_s, d, form, true));
        let (v_h, v_b) = (host.loss, burn.loss);
        assert!((v_h - v_b).abs() < 1e-4, "loss {v_h} vs {v_b}");
        // ∂C sums 301 products G·R per entry, across 5 blocks and both threads' buffers: the
        // same bound as ∂R's sums of 1,000
        for (name, h, b) in [
            ("row", &host.g_rows, &burn.g_rows),
            (
                "candidate",
                host.g_cand.as_ref().unwrap(),
                burn.g_cand.as_ref().unwrap(),
            ),
        ] {
            let (worst, g_max) = worst_of(h, b);
            println!(
                "worst {name}-gradient difference {:.2e} of the largest entry",
                worst / g_max
            );
            assert!(
                worst < 1e-3 * g_max,
                "{name} gradient off by {worst} (largest {g_max})"
            );
        }
        let (gs_h, gs_b) = (host.g_log_s, burn.g_log_s);
        assert!(
            (gs_h - gs_b).abs() < 1e-3 * gs_b.abs().max(1.0),
            "scale gradient {gs_h} vs {gs_b}"
        );
        let (p_h, p_b) = (host.predicted, burn.predicted);
        let logit = |i: usize, j: usize| -> f64 {
            (0..d)
                .map(|t| f64::from(rows[i * d + t]) * f64::from(cand[j * d + t]))
                .sum()
        };
        for (i, (&a, &b)) in p_h.iter().zip(&p_b).enumerate() {
            if a != b {
                let gap = (logit(i, a as usize) - logit(i, b as usize)).abs();
                assert!(gap < 1e-4, "row {i}: predictions {a} and {b}, {gap} apart");
            }
        }
    }
}
