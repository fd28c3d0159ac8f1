//! Reconstruction quality: token accuracy and exact-text rate.
//!
//! A restored row decodes to the entry of `V` with the highest tied-head score
//! `restored · E_v` (the learned scale does not change an argmax). A text's decoded
//! tokens end at the first padding/end token.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{AutoencoderError, Result};
use crate::model::{CllmModel, Decoder};

/// Token accuracy and exact-text rate of a set of texts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct EvalReport {
    /// Texts evaluated.
    pub texts: usize,
    /// Content tokens evaluated.
    pub tokens: usize,
    /// Fraction of content tokens restored exactly.
    pub token_accuracy: f64,
    /// Fraction of texts whose every token and whose end are restored exactly.
    pub exact_text_rate: f64,
}

/// `[b, L, d]` input rows and `[b, L]` padding mask for texts given as `V` indices.
pub(crate) fn input_tensors<B: Backend>(
    e_v: &Tensor<B, 2>,
    rows: &[usize],
    lens: &[usize],
    max_len: usize,
) -> (Tensor<B, 3>, Tensor<B, 2, Bool>) {
    let device = e_v.device();
    let b = lens.len();
    let [_, d] = e_v.dims();
    let idx: Vec<i64> = rows.iter().map(|&v| v as i64).collect();
    let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [rows.len()]), &device);
    let x = e_v.clone().select(0, idx).reshape([b, max_len, d]);
    let mask: Vec<bool> = lens
        .iter()
        .flat_map(|&n| (0..max_len).map(move |p| p >= n))
        .collect();
    let mask = Tensor::<B, 2, Bool>::from_data(TensorData::new(mask, [b, max_len]), &device);
    (x, mask)
}

/// Argmax over `V` of every restored row: `[b, L, d]` → `b` vectors of `L` indices.
pub(crate) fn nearest_in_vocab<B: Backend>(
    restored: Tensor<B, 3>,
    e_v: &Tensor<B, 2>,
) -> Result<Vec<Vec<usize>>> {
    let [b, l, d] = restored.dims();
    let scores = restored.reshape([b * l, d]).matmul(e_v.clone().transpose());
    let ids = scores
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .map_err(|e| AutoencoderError::Tensor(format!("{e:?}")))?;
    Ok(ids
        .chunks(l)
        .map(|c| c.iter().map(|&v| v as usize).collect())
        .collect())
}

/// What the decoder restores of padded texts (`rows` `[b × max_len]` `V` indices): the
/// mirror's argmax rows, or the autoregressive decoder's teacher-forced predictions (each
/// position's argmax given the true tokens before it; pad past the end marker).
fn reconstruct<B: Backend>(
    model: &CllmModel<B>,
    e_v: &Tensor<B, 2>,
    pad: usize,
    rows: &[usize],
    lens: &[usize],
    max_len: usize,
) -> Result<Vec<Vec<usize>>> {
    let (x, mask) = input_tensors(e_v, rows, lens, max_len);
    let z = model.encode(x.clone(), Some(mask));
    match &model.decoder {
        Decoder::Mirror(mirror) => nearest_in_vocab(mirror.forward(z), e_v),
        Decoder::Autoregressive(ar) => {
            let t = (lens.iter().copied().max().unwrap_or(0) + 1).min(max_len);
            let out = ar.forward(z, x.narrow(1, 0, t), None);
            let mut pred = nearest_in_vocab(out, e_v)?;
            for p in &mut pred {
                p.resize(max_len, pad);
            }
            Ok(pred)
        }
    }
}

/// Encodes and decodes `texts` (as `V` indices, each at most `max_len` long) in batches
/// and scores the reconstruction. Returns the report and the predicted indices per text.
/// For the autoregressive decoder the scores are teacher-forced (see
/// [`crate::decoding`] for free-running decodes). No texts, or an empty text, is an
/// [`AutoencoderError::Empty`] (an accuracy over nothing would otherwise read as 0).
pub fn evaluate<B: Backend>(
    model: &CllmModel<B>,
    e_v: &Tensor<B, 2>,
    pad: usize,
    max_len: usize,
    texts: &[&[usize]],
    batch_size: usize,
) -> Result<(EvalReport, Vec<Vec<usize>>)> {
    // An accuracy over nothing would read as 0: refuse it instead.
    if texts.is_empty() {
        return Err(AutoencoderError::Empty("texts to evaluate"));
    }
    if texts.iter().any(|t| t.is_empty()) {
        return Err(AutoencoderError::Empty("a text to evaluate"));
    }
    let mut correct = 0usize;
    let mut tokens = 0usize;
    let mut exact = 0usize;
    let mut predictions = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(batch_size.max(1)) {
        let mut rows = vec![pad; chunk.len() * max_len];
        let mut lens = Vec::with_capacity(chunk.len());
        for (b, t) in chunk.iter().enumerate() {
            if t.len() > max_len {
                return Err(AutoencoderError::TooLong {
                    index: b,
                    len: t.len(),
                    max: max_len,
                });
            }
            rows[b * max_len..b * max_len + t.len()].copy_from_slice(t);
            lens.push(t.len());
        }
        let pred = reconstruct(model, e_v, pad, &rows, &lens, max_len)?;
        for (t, p) in chunk.iter().zip(pred) {
            let ok = t.iter().zip(&p).filter(|(a, b)| a == b).count();
            correct += ok;
            tokens += t.len();
            let ends = t.len() >= max_len || p[t.len()] == pad;
            if ok == t.len() && ends {
                exact += 1;
            }
            predictions.push(p);
        }
    }
    let report = EvalReport {
        texts: texts.len(),
        tokens,
        token_accuracy: correct as f64 / tokens as f64,
        exact_text_rate: exact as f64 / texts.len() as f64,
    };
    Ok((report, predictions))
}

/// The tokens of a decoded text: everything before the first `pad`.
pub fn until_pad(pred: &[usize], pad: usize) -> &[usize] {
    let end = pred.iter().position(|&p| p == pad).unwrap_or(pred.len());
    &pred[..end]
}

/// The void score of each query vector: its mean Euclidean distance to its `k` nearest
/// reference vectors (the pilot's score; large = far from the training data). Brute force,
/// accumulated in f64.
///
/// Every vector must have the reference's width and finite values: a mismatch is an
/// [`AutoencoderError::WrongWidth`] (never a distance over the shorter vector), a NaN an
/// [`AutoencoderError::NonFinite`]; no reference vector or `k = 0` is an error too. With
/// fewer reference vectors than `k`, the mean runs over all of them (logged).
///
/// ```
/// use cllm_autoencoder::eval::knn_void_scores;
/// let reference = vec![vec![0.0f32, 0.0], vec![1.0, 0.0], vec![0.0, 1.0]];
/// let s = knn_void_scores(&reference, &[vec![0.0, 0.0], vec![10.0, 0.0]], 1)?;
/// assert_eq!(s, vec![0.0, 9.0]);
/// assert!(knn_void_scores(&reference, &[vec![0.0, 0.0, 0.0]], 1).is_err());
/// # Ok::<(), cllm_autoencoder::AutoencoderError>(())
/// ```
pub fn knn_void_scores(reference: &[Vec<f32>], queries: &[Vec<f32>], k: usize) -> Result<Vec<f64>> {
    let dim = reference
        .first()
        .ok_or(AutoencoderError::Empty(
            "reference vectors of the void score",
        ))?
        .len();
    if k == 0 {
        return Err(AutoencoderError::InvalidConfig(
            "the void score needs k ≥ 1 neighbours".into(),
        ));
    }
    for (what, vectors) in [
        ("void-score reference vector", reference),
        ("void-score query", queries),
    ] {
        for v in vectors {
            if v.len() != dim {
                return Err(AutoencoderError::WrongWidth {
                    what,
                    expected: dim,
                    got: v.len(),
                });
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(AutoencoderError::NonFinite(what));
            }
        }
    }
    if k > reference.len() {
        tracing::warn!(
            k,
            reference = reference.len(),
            "fewer reference vectors than neighbours: the void score averages over all of them"
        );
    }
    let k = k.min(reference.len());
    Ok(queries
        .iter()
        .map(|q| {
            let mut d: Vec<f64> = reference
                .iter()
                .map(|r| {
                    r.iter()
                        .zip(q)
                        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .collect();
            d.select_nth_unstable_by(k - 1, f64::total_cmp);
            d[..k].iter().sum::<f64>() / k as f64
        })
        .collect())
}

/// [`knn_void_scores`] without the error: `NaN` for every query (and a logged error) when
/// the vectors do not fit together.
#[deprecated(
    note = "use knn_void_scores, which returns a typed error instead of NaN scores on a width mismatch"
)]
pub fn void_scores(reference: &[Vec<f32>], queries: &[Vec<f32>], k: usize) -> Vec<f64> {
    knn_void_scores(reference, queries, k).unwrap_or_else(|e| {
        tracing::error!(error = %e, queries = queries.len(), "void scores are NaN");
        vec![f64::NAN; queries.len()]
    })
}

/// Area under the ROC curve of `positives` against `negatives` (the probability that a
/// random positive scores higher than a random negative; ties count half). 0.5 = no
/// separation. `NaN` when either side is empty.
///
/// ```
/// use cllm_autoencoder::eval::auroc;
/// assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
/// assert_eq!(auroc(&[1.0], &[1.0]), 0.5);
/// assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]), 0.0);
/// ```
pub fn auroc(positives: &[f64], negatives: &[f64]) -> f64 {
    if positives.is_empty() || negatives.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = positives
        .iter()
        .map(|&s| (s, true))
        .chain(negatives.iter().map(|&s| (s, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // average ranks over ties (1-based), Mann–Whitney U
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += avg * all[i..=j].iter().filter(|x| x.1).count() as f64;
        i = j + 1;
    }
    let (np, nn) = (positives.len() as f64, negatives.len() as f64);
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn void_scores_refuse_what_does_not_fit() {
        let reference = vec![vec![0.0f32, 0.0], vec![3.0, 4.0]];
        // k = 2: the mean of 0 and 5
        assert_eq!(
            knn_void_scores(&reference, &[vec![0.0, 0.0]], 2).unwrap(),
            vec![2.5]
        );
        // k beyond the reference: the mean over all (logged), not an index panic
        assert_eq!(
            knn_void_scores(&reference, &[vec![0.0, 0.0]], 9).unwrap(),
            vec![2.5]
        );
        let wrong = |r: Result<Vec<f64>>| matches!(r, Err(AutoencoderError::WrongWidth { .. }));
        // a query of another width: old code zipped it to the shorter width
        assert!(wrong(knn_void_scores(&reference, &[vec![0.0]], 1)));
        assert!(wrong(knn_void_scores(
            &reference,
            &[vec![0.0, 0.0, 7.0]],
            1
        )));
        let ragged = vec![vec![0.0f32, 0.0], vec![1.0]];
        assert!(wrong(knn_void_scores(&ragged, &[vec![0.0, 0.0]], 1)));
        assert!(matches!(
            knn_void_scores(&reference, &[vec![f32::NAN, 0.0]], 1),
            Err(AutoencoderError::NonFinite(_))
        ));
        assert!(matches!(
            knn_void_scores(&[], &[vec![0.0]], 1),
            Err(AutoencoderError::Empty(_))
        ));
        assert!(matches!(
            knn_void_scores(&reference, &[vec![0.0, 0.0]], 0),
            Err(AutoencoderError::InvalidConfig(_))
        ));
        assert_eq!(
            knn_void_scores(&reference, &[], 1).unwrap(),
            Vec::<f64>::new()
        );
        #[allow(deprecated)]
        let nan = void_scores(&reference, &[vec![0.0]], 1);
        assert!(nan[0].is_nan());
    }

    #[test]
    fn evaluating_nothing_is_an_error_not_zero_accuracy() {
        use crate::config::{CllmConfig, StageConfig};
        use burn::backend::NdArray;
        let cfg = CllmConfig::new(4, 8, 8, 3, vec![StageConfig::new(1, 4, 4)]).with_heads(2);
        let device = Default::default();
        let model = CllmModel::<NdArray>::new(&cfg, &device).unwrap();
        let e_v = Tensor::<NdArray, 2>::from_data(
            TensorData::new(
                (0..5 * 4).map(|v| v as f32 * 0.1).collect::<Vec<f32>>(),
                [5, 4],
            ),
            &device,
        );
        assert!(matches!(
            evaluate(&model, &e_v, 0, 8, &[], 4),
            Err(AutoencoderError::Empty(_))
        ));
        assert!(matches!(
            evaluate(&model, &e_v, 0, 8, &[&[1, 2], &[]], 4),
            Err(AutoencoderError::Empty(_))
        ));
        let (report, _) = evaluate(&model, &e_v, 0, 8, &[&[1, 2, 3]], 4).unwrap();
        assert_eq!((report.texts, report.tokens), (1, 3));
    }
}
