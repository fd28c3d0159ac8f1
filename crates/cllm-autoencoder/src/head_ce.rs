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
//! treated as constants (the frozen embedding table); if they require a gradient the plain
//! form is used instead. Tested against the plain form: same loss, same gradients for the
//! rows and the scale, same predictions.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

use crate::loss::tied_head_ce;

/// Logits per chunk (4 Mi floats, 16 MiB): large enough for efficient matrix products,
/// small enough that a chunk's element-wise passes stay in cache-friendly sizes.
pub const DEFAULT_CHUNK_LOGITS: usize = 1 << 22;

/// Token cross-entropy of `rows` (`[n, d]`) against constant candidate rows `cand`
/// (`[c, d]`) with scale `scale` (`[1]`, > 0) and `targets` (`[n]` positions in `cand`),
/// computed in chunks of about `chunk_logits` logits with the gradient formed in the
/// forward pass (see the module docs). Returns the mean loss and the argmax predictions,
/// like [`tied_head_ce`].
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
    let [n, _] = rows.dims();
    let [c, _] = cand.dims();
    if cand.is_require_grad() || n == 0 || c == 0 {
        return tied_head_ce(rows, cand, scale, targets);
    }
    let device = rows.device();
    let rows_in = rows.clone().inner();
    let cand_in = cand.inner();
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
        grad_rows.push(g.matmul(cand_in.clone()) * s_col.clone());
        predicted.push(argmax.reshape([len]));
    }
    let ce = Tensor::cat(ce_sums, 0).sum() * inv_n;
    let grad_rows = Tensor::cat(grad_rows, 0);
    let grad_scale = Tensor::cat(grad_scale_sums, 0).sum() / s_in;

    let surrogate = (rows * Tensor::from_inner(grad_rows)).sum()
        + scale * Tensor::<B, 1>::from_inner(grad_scale);
    let loss = surrogate.clone() - surrogate.detach() + Tensor::from_inner(ce);
    (loss, Tensor::from_inner(Tensor::cat(predicted, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{Distribution, TensorData};

    type B = Autodiff<NdArray>;

    fn to_vec(t: Tensor<NdArray, 2>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    /// Loss, predictions and the gradients for the rows and the log-scale of both forms.
    #[test]
    fn chunked_matches_the_plain_form_in_value_and_gradients() {
        let dev = Default::default();
        let (n, c, d) = (37, 23, 8);
        let cand = Tensor::<B, 2>::random([c, d], Distribution::Normal(0.0, 1.0), &dev);
        let rows0 = Tensor::<B, 2>::random([n, d], Distribution::Normal(0.0, 1.0), &dev);
        let ids: Vec<i64> = (0..n as i64).map(|i| (i * 7) % c as i64).collect();
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [n]), &dev);
        let run = |chunk: Option<usize>| {
            let rows = Tensor::<B, 2>::from_inner(rows0.clone().inner()).require_grad();
            let log_s = Tensor::<B, 1>::from_data([1.3f32], &dev).require_grad();
            let (loss, pred) = match chunk {
                Some(ch) => tied_head_ce_chunked(
                    rows.clone(),
                    cand.clone(),
                    log_s.clone().exp(),
                    targets.clone(),
                    ch,
                ),
                None => tied_head_ce(
                    rows.clone(),
                    cand.clone(),
                    log_s.clone().exp(),
                    targets.clone(),
                ),
            };
            let value = loss.clone().into_scalar();
            let grads = loss.backward();
            let g_rows = to_vec(rows.grad(&grads).unwrap());
            let g_s = log_s.grad(&grads).unwrap().into_scalar();
            let pred = pred.into_data().convert::<i64>().to_vec::<i64>().unwrap();
            (value, g_rows, g_s, pred)
        };
        let (v0, gr0, gs0, p0) = run(None);
        // 5 rows per chunk: 8 chunks, the last one short; and one chunk for everything
        for chunk in [5 * c, 1 << 20] {
            let (v, gr, gs, p) = run(Some(chunk));
            assert!((v - v0).abs() < 1e-5 * v0.abs().max(1.0), "{v} vs {v0}");
            assert!(
                (gs - gs0).abs() < 1e-5 * gs0.abs().max(1e-3),
                "{gs} vs {gs0}"
            );
            let worst = gr
                .iter()
                .zip(&gr0)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let scale = gr0.iter().map(|x| x.abs()).fold(0.0f32, f32::max);
            // f32 with logits up to ~30: the two forms round differently (~1e-5 relative);
            // a wrong formula would differ by O(1)
            assert!(
                worst < 1e-4 * scale,
                "row gradient differs by {worst} (max {scale})"
            );
            assert_eq!(p, p0);
        }
    }

    #[test]
    fn trainable_candidates_fall_back_to_the_plain_form() {
        let dev = Default::default();
        let cand = Tensor::<B, 2>::from_data([[1.0f32, 0.0], [0.0, 1.0]], &dev).require_grad();
        let rows = Tensor::<B, 2>::from_data([[1.0f32, 0.0]], &dev);
        let t = Tensor::<B, 1, Int>::from_data([1], &dev);
        let (loss, _) =
            tied_head_ce_chunked(rows, cand.clone(), Tensor::from_data([2.0f32], &dev), t, 2);
        let grads = loss.backward();
        assert!(
            cand.grad(&grads).is_some(),
            "the candidates keep their gradient"
        );
    }
}
