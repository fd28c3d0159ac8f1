//! The training objective.
//!
//! `loss = CE(exp(s) · restored · E_Cᵀ, ids) + mse_weight · MSE(restored, E[ids])
//!        + cosine_weight · (1 − cos(restored, E[ids]))
//!        + cluster_weight · clustering(z) + align_weight · alignment(z, s)
//!        + decor_weight · decorrelation(z)`
//!
//! - **Token term** (always on): cross-entropy through the backbone's tied head with a
//!   learned scale `s`, as in the pilot. The softmax is restricted to the corpus vocabulary
//!   `V` (`C = V`), or with [`LossConfig::negatives`] to the batch's own targets plus that
//!   many uniformly sampled entries of `V` (a sampled softmax, much cheaper on CPU). It
//!   covers every text's content and its first padding position (the end marker the
//!   decoder learns to place); later padding positions are covered by the MSE only.
//! - **Matrix terms**: MSE over all positions (padding rows target the pad embedding), and
//!   an optional per-token cosine term.
//! - **Clustering term** (off by default): the method's reward for vectors drawing together
//!   so that empty space appears between groups: the mean squared distance of each text
//!   vector to its nearest neighbour in the batch, divided by the mean squared distance
//!   between all pairs. Scale-free, so it cannot be met by shrinking every vector; it is
//!   small when the batch forms tight clumps far apart.
//! - **Smoothness** (off by default): Gaussian noise on the text vector before decoding,
//!   `z + σ · std_batch(z) · ε` (σ = [`LossConfig::latent_noise`], std per dimension,
//!   not differentiated), so that the decoder must map a neighbourhood of each training
//!   vector to the same text and points between data decode to sense.
//! - **Semantic alignment** (off by default): the distances between the batch's text
//!   vectors should follow the distances between sentence embeddings `s` of the same texts
//!   (e.g. mean-pooled all-MiniLM-L6-v2, see [`crate::semantic`]). Both pairwise distance
//!   matrices are divided by their mean off-diagonal value (scale-free, so the text
//!   vectors keep whatever scale the reconstruction wants) and the term is the mean squared
//!   difference over all pairs `i ≠ j`. It asks the encoder to place texts of similar meaning
//!   near each other, not merely texts of similar tokens — the lever against memorising.
//! - **Bag of words** (off by default; autoregressive decoder only): the decoder's output at
//!   its last prefix position, which sees the vector and nothing else, is scored by the tied
//!   head against the text's own words as a bag (the cross-entropy of the text's token
//!   frequencies under one softmax over the vocabulary; Zhao et al. 2017). Token by token,
//!   a strong decoder can predict the next word from the words before it and ignore the
//!   vector (posterior collapse); the bag can only come from the vector, so the term makes
//!   the vector carry the text's content and the decoder read it. No new parameters.
//! - **Decorrelation** (VICReg's covariance term, Bardes et al. 2022; on by default for new
//!   models in `cllm train` and `cllm experiment`): the squared off-diagonal correlations
//!   of the text vectors, over the batch and a queue of recent (detached) vectors, summed
//!   and divided by `k`. Without it the standardised vector's 64 coordinates become
//!   near-copies of one number (participation ratio 1.1 of 64, mean |correlation| 0.95,
//!   and that number was the corpus's *source*, not its content); with it every coordinate
//!   must carry something the others do not. A batch of 16 cannot estimate a 64 × 64
//!   correlation alone, hence the queue ([`LossConfig::decor_queue`] vectors).

use burn::config::Config;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// Weights and switches of the objective (see the module docs).
#[derive(Config, Debug, PartialEq)]
pub struct LossConfig {
    /// Weight of the MSE between restored and true rows.
    #[config(default = 0.1)]
    pub mse_weight: f64,
    /// Weight of the per-token cosine distance (0 = off).
    #[config(default = 0.0)]
    pub cosine_weight: f64,
    /// Sampled negatives per batch for the token term (`None` = full corpus vocabulary).
    #[config(default = "None")]
    pub negatives: Option<usize>,
    /// Weight of the clustering term (0 = off).
    #[config(default = 0.0)]
    pub cluster_weight: f64,
    /// Relative std σ of the Gaussian noise on the text vector (0 = off).
    #[config(default = 0.0)]
    pub latent_noise: f64,
    /// Weight of the semantic alignment term (0 = off; needs sentence embeddings).
    #[config(default = 0.0)]
    pub align_weight: f64,
    /// Weight of the bag-of-words term (0 = off; autoregressive decoder only).
    #[config(default = 0.0)]
    pub bow_weight: f64,
    /// Weight of the decorrelation term (0 = off: the library's default, and that of every
    /// run saved before the term existed; `cllm train` and `cllm experiment` give new
    /// models [`DEFAULT_DECOR_WEIGHT`]).
    #[config(default = 0.0)]
    pub decor_weight: f64,
    /// Recent text vectors (detached, from earlier steps) joined to the batch's in the
    /// decorrelation term's correlation estimate.
    #[config(default = 240)]
    pub decor_queue: usize,
}

/// The decorrelation weight of a new model in `cllm train` and `cllm experiment`: the
/// weight that made the code full-rank in the PyTorch probe (`shared/reference`,
/// participation ratio 1.0 → 48.8 of 64 at weight 1, 4.6 at 0.1) and in the A/B recorded in
/// `docs/autoencoder.md`.
pub const DEFAULT_DECOR_WEIGHT: f64 = 1.0;

/// The decorrelation term: `Σ_{i≠j} R_ij² / k`, `R` the correlation matrix of the rows of
/// `z` (`[b, k]`, the batch's text vectors, which receive the gradient) together with the
/// rows of `recent` (`[q, k]`, detached vectors of earlier batches; `None` for none), each
/// coordinate's standard deviation floored by `√1e-6`. 0 when the coordinates are
/// uncorrelated; `k − 1` when they are all copies of one number. Needs `b + q ≥ 2`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Tensor, TensorData};
/// use cllm_autoencoder::loss::decorrelation_term;
/// let dev = Default::default();
/// // two coordinates that copy each other: R = [[1, 1], [1, 1]], term = 2 · 1² / 2 = 1
/// let z = Tensor::<NdArray, 2>::from_data(
///     TensorData::new(vec![0.0f32, 0.0, 1.0, 1.0, 2.0, 2.0], [3, 2]), &dev);
/// assert!((decorrelation_term(z, None).into_scalar() - 1.0).abs() < 1e-4);
/// ```
pub fn decorrelation_term<B: Backend>(z: Tensor<B, 2>, recent: Option<Tensor<B, 2>>) -> Tensor<B, 1> {
    let all = match recent {
        Some(r) => Tensor::cat(vec![z, r], 0),
        None => z,
    };
    let [n, k] = all.dims();
    let centred = all.clone() - all.mean_dim(0);
    let denom = (n.max(2) - 1) as f64;
    let cov = centred.clone().transpose().matmul(centred.clone()) / denom; // [k, k]
    let sd = (centred.square().sum_dim(0) / denom).add_scalar(1e-6).sqrt(); // [1, k]
    let corr = cov / sd.clone().transpose().matmul(sd);
    let off_diagonal = Tensor::<B, 2>::eye(k, &corr.device())
        .neg()
        .add_scalar(1.0);
    (corr * off_diagonal).square().sum() / k as f64
}

/// The bag-of-words term: `rows` (`[b, d]`, one per text) scored against the candidates
/// `cand` (`[c, d]`) with scale `scale` (`[1]`) as one softmax per text, and the mean over
/// texts of the cross-entropy `−Σ_v p_v log q_v`, `p` (`bags`, `[b, c]`) being each text's
/// token frequencies over the candidates (rows summing to 1). The minimum is the mean
/// entropy of the bags, not 0.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::Tensor;
/// use cllm_autoencoder::loss::bag_of_words_term;
///
/// let dev = Default::default();
/// let cand = Tensor::<NdArray, 2>::from_data([[1.0f32, 0.0], [0.0, 1.0]], &dev);
/// let rows = Tensor::<NdArray, 2>::from_data([[0.0f32, 0.0]], &dev);
/// let bags = Tensor::<NdArray, 2>::from_data([[0.5f32, 0.5]], &dev);
/// let scale = Tensor::<NdArray, 1>::from_data([1.0f32], &dev);
/// // a uniform guess over two words: ln 2
/// let loss = bag_of_words_term(rows, cand, scale, bags).into_scalar();
/// assert!((loss - 2f32.ln()).abs() < 1e-6);
/// ```
pub fn bag_of_words_term<B: Backend>(
    rows: Tensor<B, 2>,
    cand: Tensor<B, 2>,
    scale: Tensor<B, 1>,
    bags: Tensor<B, 2>,
) -> Tensor<B, 1> {
    let logits = rows.matmul(cand.transpose()) * scale.unsqueeze::<2>();
    (log_softmax(logits, 1) * bags).sum_dim(1).mean().neg()
}

/// Token cross-entropy of `rows` (`[n, d]`) against candidate rows `cand` (`[c, d]`)
/// with scale `scale` (`[1]`) and `targets` (`[n]` positions in `cand`). Also returns the
/// argmax predictions.
pub fn tied_head_ce<B: Backend>(
    rows: Tensor<B, 2>,
    cand: Tensor<B, 2>,
    scale: Tensor<B, 1>,
    targets: Tensor<B, 1, Int>,
) -> (Tensor<B, 1>, Tensor<B, 1, Int>) {
    let [n, _] = rows.dims();
    let logits = rows.matmul(cand.transpose()) * scale.unsqueeze::<2>();
    let predicted = logits.clone().argmax(1).reshape([n]);
    let logp = log_softmax(logits, 1);
    let picked = logp.gather(1, targets.reshape([n, 1]));
    (picked.mean().neg(), predicted)
}

/// The clustering term: mean nearest-neighbour squared distance over mean pairwise squared
/// distance within the batch `z` (`[b, k]`, `b ≥ 2`).
pub fn clustering_term<B: Backend>(z: Tensor<B, 2>) -> Tensor<B, 1> {
    let [b, _] = z.dims();
    let sq = z.clone().square().sum_dim(1); // [b, 1]
    let d = (sq.clone() + sq.transpose() - z.clone().matmul(z.transpose()) * 2.0).clamp_min(0.0);
    let eye = Tensor::<B, 2>::eye(b, &d.device()).bool();
    let mean_all = d.clone().sum() / ((b * (b - 1)).max(1) as f64);
    let nn = d.mask_fill(eye, f32::MAX).min_dim(1).mean();
    nn / (mean_all + 1e-6)
}

/// Pairwise Euclidean distances `[b, b]` of the rows of `x` (`[b, k]`), with a small
/// floor inside the square root so that the gradient stays finite on the diagonal.
fn pairwise_distances<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let sq = x.clone().square().sum_dim(1); // [b, 1]
    (sq.clone() + sq.transpose() - x.clone().matmul(x.transpose()) * 2.0)
        .clamp_min(0.0)
        .add_scalar(1e-8)
        .sqrt()
}

/// The semantic alignment term: mean squared difference between the pairwise distances
/// of `z` (`[b, k]`) and of `s` (`[b, D]`), each divided by its mean over pairs `i ≠ j`
/// (`b ≥ 2`). Zero when the two point sets are similar up to scale.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Tensor, TensorData};
/// use cllm_autoencoder::loss::alignment_term;
/// let dev = Default::default();
/// let s = Tensor::<NdArray, 2>::from_data(TensorData::new(vec![0.0f32, 0.0, 1.0, 0.0, 0.0, 3.0], [3, 2]), &dev);
/// let z = s.clone() * 7.0; // same geometry, other scale
/// assert!(alignment_term(z, s.clone()).into_scalar() < 1e-6);
/// let other = Tensor::<NdArray, 2>::from_data(TensorData::new(vec![0.0f32, 0.0, 3.0, 0.0, 0.0, 1.0], [3, 2]), &dev);
/// assert!(alignment_term(other, s).into_scalar() > 0.1);
/// ```
pub fn alignment_term<B: Backend>(z: Tensor<B, 2>, s: Tensor<B, 2>) -> Tensor<B, 1> {
    let [b, _] = z.dims();
    let device = z.device();
    let off = Tensor::<B, 2>::ones([b, b], &device) - Tensor::<B, 2>::eye(b, &device);
    let pairs = (b * (b - 1)).max(1) as f64;
    let normalised = |d: Tensor<B, 2>| {
        let d = d * off.clone();
        let mean = d.clone().sum() / pairs;
        d / mean.add_scalar(1e-8).unsqueeze::<2>()
    };
    let dz = normalised(pairwise_distances(z));
    let ds = normalised(pairwise_distances(s));
    (dz - ds).square().sum() / pairs
}

/// Per-token cosine distance `1 − cos(a, b)` averaged over rows (`[n, d]`).
pub fn cosine_distance<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 1> {
    let dot = (a.clone() * b.clone()).sum_dim(1);
    let na = a.square().sum_dim(1).sqrt();
    let nb = b.square().sum_dim(1).sqrt();
    (dot / (na * nb + 1e-8)).neg().add_scalar(1.0).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    type B = NdArray;

    /// `Σ_{i≠j} R_ij² / k` in f64 over `rows` (`n × k`), as the term defines it.
    fn decorrelation_reference(rows: &[f64], n: usize, k: usize) -> f64 {
        let mean: Vec<f64> = (0..k)
            .map(|j| (0..n).map(|i| rows[i * k + j]).sum::<f64>() / n as f64)
            .collect();
        let cov = |a: usize, b: usize| -> f64 {
            (0..n)
                .map(|i| (rows[i * k + a] - mean[a]) * (rows[i * k + b] - mean[b]))
                .sum::<f64>()
                / (n - 1) as f64
        };
        let sd: Vec<f64> = (0..k).map(|j| (cov(j, j) + 1e-6).sqrt()).collect();
        let mut sum = 0.0;
        for a in 0..k {
            for b in 0..k {
                if a != b {
                    sum += (cov(a, b) / (sd[a] * sd[b])).powi(2);
                }
            }
        }
        sum / k as f64
    }

    /// The decorrelation term and its gradient against the f64 definition and central
    /// finite differences of it (h = 1e-5 on inputs of size ~1: truncation error O(h²) ~
    /// 1e-10, cancellation ~1e-16/h ~ 1e-11, so the reference gradient is good to ~1e-9).
    /// The f32 forward pass sums ≤ 12 products per covariance entry: value within 1e-5
    /// relative; the gradient through f32 arithmetic and NdArray's reductions within 1e-3
    /// of its largest entry. Only the batch rows get a gradient: the queue is detached.
    #[test]
    fn decorrelation_term_and_gradient_match_finite_differences() {
        use burn::backend::Autodiff;
        type A = Autodiff<NdArray>;
        let dev = Default::default();
        let (b, q, k) = (5usize, 7usize, 4usize);
        // seeded, correlated rows: coordinate j mixes a shared factor with its own
        let value = |i: usize, j: usize| -> f64 {
            let shared = ((i * 37 + 11) as f64 * 0.173).sin();
            let own = ((i * 13 + j * 29 + 5) as f64 * 0.311).cos();
            shared * (0.4 + 0.2 * j as f64) + own
        };
        let rows: Vec<f64> = (0..b + q)
            .flat_map(|i| (0..k).map(move |j| value(i, j)))
            .collect();
        let f32s = |r: &[f64]| r.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let z = Tensor::<A, 2>::from_data(TensorData::new(f32s(&rows[..b * k]), [b, k]), &dev)
            .require_grad();
        let recent =
            Tensor::<A, 2>::from_data(TensorData::new(f32s(&rows[b * k..]), [q, k]), &dev);
        let term = decorrelation_term(z.clone(), Some(recent));
        let got = term.clone().into_scalar();
        let want = decorrelation_reference(&rows, b + q, k);
        assert!(want > 0.05, "the rows must be correlated for the test to mean something");
        assert!(
            ((got as f64) - want).abs() <= 1e-5 * want.max(1.0),
            "{got} vs {want}"
        );
        let grads = term.backward();
        let grad: Vec<f32> = z.grad(&grads).unwrap().into_data().to_vec().unwrap();
        let h = 1e-5;
        let numeric: Vec<f64> = (0..b * k)
            .map(|p| {
                let mut up = rows.clone();
                let mut down = rows.clone();
                up[p] += h;
                down[p] -= h;
                (decorrelation_reference(&up, b + q, k) - decorrelation_reference(&down, b + q, k))
                    / (2.0 * h)
            })
            .collect();
        let largest = numeric.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        assert!(largest > 1e-3);
        for (p, (&g, &n)) in grad.iter().zip(&numeric).enumerate() {
            assert!(
                (f64::from(g) - n).abs() <= 1e-3 * largest,
                "entry {p}: autodiff {g} vs finite differences {n}"
            );
        }
        // copies of one number: the maximum, k − 1
        let copies: Vec<f32> = (0..6).flat_map(|i| vec![i as f32; 3]).collect();
        let t = decorrelation_term(
            Tensor::<B, 2>::from_data(TensorData::new(copies, [6, 3]), &dev),
            None,
        );
        assert!((t.into_scalar() - 2.0).abs() < 1e-4);
    }

    /// The term and its gradient for the rows against an f64 reference:
    /// `L = −(1/b) Σ_i Σ_v p_iv log q_iv`, `q_i = softmax(s·r_i·Cᵀ)`,
    /// `∂L/∂r_i = (s/b) Σ_v (q_iv − p_iv) C_v` (each bag sums to 1).
    /// Tolerance: logits of d = 6 products of |x| < 3 times s = 1.5 are below ~80 in
    /// magnitude with f32 rounding ~1e-5; log-softmax and the sums keep the value under
    /// 1e-4. The gradient goes through NdArray's SIMD reciprocal in the backward pass (12
    /// bits on AVX2, see `head_ce`): 1e-3 of its largest entry.
    #[test]
    fn bag_of_words_term_matches_an_f64_reference() {
        use burn::backend::Autodiff;
        use rand::SeedableRng;
        type A = Autodiff<NdArray>;
        let (b, c, d, s) = (3usize, 7usize, 6usize, 1.5f64);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let rows = crate::batch::normal_noise(b * d, &mut rng);
        let cand = crate::batch::normal_noise(c * d, &mut rng);
        let mut bags = vec![0f32; b * c];
        for (i, words) in [[0usize, 1, 1, 6], [2, 2, 2, 2], [3, 4, 5, 0]]
            .iter()
            .enumerate()
        {
            for &w in words {
                bags[i * c + w] += 0.25;
            }
        }
        let dev = Default::default();
        let r =
            Tensor::<A, 2>::from_data(TensorData::new(rows.clone(), [b, d]), &dev).require_grad();
        let loss = bag_of_words_term(
            r.clone(),
            Tensor::from_data(TensorData::new(cand.clone(), [c, d]), &dev),
            Tensor::from_data([s as f32], &dev),
            Tensor::from_data(TensorData::new(bags.clone(), [b, c]), &dev),
        );
        let value = f64::from(loss.clone().into_scalar());
        let grad = r
            .grad(&loss.backward())
            .unwrap()
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .unwrap();
        let (mut want, mut want_grad) = (0.0f64, vec![0.0f64; b * d]);
        for i in 0..b {
            let logits: Vec<f64> = (0..c)
                .map(|v| {
                    s * (0..d)
                        .map(|t| f64::from(rows[i * d + t]) * f64::from(cand[v * d + t]))
                        .sum::<f64>()
                })
                .collect();
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            for v in 0..c {
                let logq = logits[v] - max - z.ln();
                let p = f64::from(bags[i * c + v]);
                want -= p * logq / b as f64;
                for t in 0..d {
                    want_grad[i * d + t] +=
                        s / b as f64 * (logq.exp() - p) * f64::from(cand[v * d + t]);
                }
            }
        }
        assert!((value - want).abs() < 1e-4, "{value} vs f64 {want}");
        let g_max = want_grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
        for (g, w) in grad.iter().zip(&want_grad) {
            assert!((g - w).abs() < 1e-3 * g_max, "gradient {g} vs f64 {w}");
        }
    }

    #[test]
    fn ce_is_low_for_exact_rows_and_predicts_them() {
        let dev = Default::default();
        let e = Tensor::<B, 2>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 0.0, 1.0, -1.0, 0.0], [3, 2]),
            &dev,
        );
        let rows = e
            .clone()
            .select(0, Tensor::<B, 1, Int>::from_data([2, 0], &dev));
        let t = Tensor::<B, 1, Int>::from_data([2, 0], &dev);
        let (ce, pred) = tied_head_ce(
            rows.clone(),
            e.clone(),
            Tensor::from_data([20.0f32], &dev),
            t.clone(),
        );
        assert!(ce.into_scalar() < 1e-3);
        assert_eq!(
            pred.into_data().convert::<i64>().to_vec::<i64>().unwrap(),
            vec![2, 0]
        );
        let wrong = Tensor::<B, 1, Int>::from_data([1, 1], &dev);
        let (ce_wrong, _) = tied_head_ce(rows, e, Tensor::from_data([20.0f32], &dev), wrong);
        assert!(ce_wrong.into_scalar() > 1.0);
    }

    #[test]
    fn clustering_term_rewards_clumps() {
        let dev = Default::default();
        let clumped = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 0.1, 0.0, 5.0, 5.0, 5.1, 5.0], [4, 2]),
            &dev,
        );
        let spread = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 5.0, 0.0, 0.0, 5.0, 5.0, 5.0], [4, 2]),
            &dev,
        );
        let a = clustering_term(clumped).into_scalar();
        let b = clustering_term(spread).into_scalar();
        assert!(a < b, "{a} !< {b}");
        // scale-free
        let s = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 50.0, 0.0, 0.0, 50.0, 50.0, 50.0], [4, 2]),
            &dev,
        );
        assert!((clustering_term(s).into_scalar() - b).abs() < 1e-4);
    }

    #[test]
    fn alignment_term_prefers_the_target_geometry() {
        let dev = Default::default();
        let s = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 0.1, 0.0, 5.0, 5.0, 5.1, 5.0], [4, 2]),
            &dev,
        );
        // same ordering of pairs, other scale and a rotation: near zero
        let z = Tensor::<B, 2>::from_data(
            TensorData::new(
                vec![0.0f32, 0.0, 0.0, 0.3, -15.0, 15.0, -15.0, 15.3],
                [4, 2],
            ),
            &dev,
        );
        let good = alignment_term(z, s.clone()).into_scalar();
        // the partners swapped: far
        let swapped = Tensor::<B, 2>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 5.0, 5.0, 0.1, 0.0, 5.1, 5.0], [4, 2]),
            &dev,
        );
        let bad = alignment_term(swapped, s).into_scalar();
        assert!(good < 1e-4, "{good}");
        assert!(bad > 0.5, "{bad}");
    }

    #[test]
    fn cosine_distance_is_zero_for_parallel_rows() {
        let dev = Default::default();
        let a =
            Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 0.0], [2, 2]), &dev);
        let b = a.clone() * 3.0;
        assert!(cosine_distance(a.clone(), b).into_scalar().abs() < 1e-6);
        assert!(cosine_distance(a.clone(), a.neg()).into_scalar() > 1.9);
    }
}
