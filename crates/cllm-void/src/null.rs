//! Significance of void zones against null point sets.
//!
//! A null point set has the same number of points as the data and either
//! - [`NullModel::Gaussian`]: the same mean and covariance, drawn from a Gaussian, or
//! - [`NullModel::Shuffle`]: every coordinate permuted independently across points (same
//!   marginals, dependence between coordinates destroyed).
//!
//! The whole void search is rerun on `runs` null sets per model; the largest relative radius
//! of each run forms the null distribution of the *maximum*. A zone's p-value is
//! `(1 + #{null maxima ≥ its relative radius}) / (1 + runs)`: the chance that pure noise of
//! that kind produces a zone at least as extreme anywhere (family-wise over all zones).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VoidError};
use crate::points::PointSet;

/// A null model (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NullModel {
    /// Gaussian with the data's mean and covariance.
    Gaussian,
    /// Coordinates shuffled independently across points.
    Shuffle,
}

impl std::fmt::Display for NullModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NullModel::Gaussian => "gaussian",
            NullModel::Shuffle => "shuffle",
        })
    }
}

/// Draws a null point set of the same size and dimension as `points`.
///
/// ```
/// use cllm_void::{null_points, NullModel, PointSet};
/// let p = PointSet::new(2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0])?;
/// let s = null_points(&p, NullModel::Shuffle, 1)?;
/// let mut col0: Vec<f32> = s.rows().map(|r| r[0]).collect();
/// col0.sort_by(f32::total_cmp);
/// assert_eq!(col0, vec![0.0, 2.0, 4.0]);
/// let g = null_points(&p, NullModel::Gaussian, 1)?;
/// assert_eq!(g.len(), 3);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn null_points(points: &PointSet, model: NullModel, seed: u64) -> Result<PointSet> {
    let (n, d) = (points.len(), points.dim());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    match model {
        NullModel::Shuffle => {
            let mut out = points.as_flat().to_vec();
            let mut col: Vec<f32> = Vec::with_capacity(n);
            for j in 0..d {
                col.clear();
                col.extend(points.rows().map(|r| r[j]));
                col.shuffle(&mut rng);
                for (i, v) in col.iter().enumerate() {
                    out[i * d + j] = *v;
                }
            }
            PointSet::new(d, out)
        }
        NullModel::Gaussian => {
            if n < 2 {
                return Err(VoidError::TooFewPoints { need: 2, got: n });
            }
            let mean = points.mean();
            let l = crate::support::cholesky_regularised(&points.covariance(), d);
            let mut out = Vec::with_capacity(n * d);
            let mut z = vec![0.0f64; d];
            for _ in 0..n {
                z.iter_mut()
                    .for_each(|v| *v = StandardNormal.sample(&mut rng));
                for i in 0..d {
                    let s: f64 = (0..=i).map(|j| l[i * d + j] * z[j]).sum();
                    out.push((mean[i] + s) as f32);
                }
            }
            PointSet::new(d, out)
        }
    }
}

/// The null distribution of the largest relative radius under one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NullDistribution {
    /// The model.
    pub model: NullModel,
    /// Largest relative radius found in each null run (0 when a run found no zone).
    pub maxima: Vec<f32>,
}

impl NullDistribution {
    /// Monte-Carlo p-value of a relative radius: `(1 + #{maxima ≥ stat}) / (1 + runs)`.
    ///
    /// ```
    /// use cllm_void::{NullDistribution, NullModel};
    /// let d = NullDistribution { model: NullModel::Shuffle, maxima: vec![1.0, 2.0, 3.0, 4.0] };
    /// assert_eq!(d.p_value(3.5), 0.4);
    /// assert_eq!(d.p_value(9.0), 0.2);
    /// ```
    pub fn p_value(&self, stat: f32) -> f64 {
        let ge = self.maxima.iter().filter(|&&m| m >= stat).count();
        (1 + ge) as f64 / (1 + self.maxima.len()) as f64
    }

    /// z-score of a relative radius against the null maxima (0 when they have no spread).
    ///
    /// ```
    /// use cllm_void::{NullDistribution, NullModel};
    /// let d = NullDistribution { model: NullModel::Gaussian, maxima: vec![1.0, 3.0] };
    /// // mean 2, sample standard deviation √2: z = (4 − 2) / √2
    /// assert!((d.z_score(4.0) - 2.0f64.sqrt()).abs() < 1e-9);
    /// ```
    pub fn z_score(&self, stat: f32) -> f64 {
        let n = self.maxima.len();
        if n < 2 {
            return 0.0;
        }
        let mean = self.maxima.iter().map(|&m| m as f64).sum::<f64>() / n as f64;
        let var = self
            .maxima
            .iter()
            .map(|&m| (m as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64;
        if var <= 0.0 {
            0.0
        } else {
            (stat as f64 - mean) / var.sqrt()
        }
    }

    /// Mean of the null maxima.
    pub fn mean(&self) -> f64 {
        self.maxima.iter().map(|&m| m as f64).sum::<f64>() / self.maxima.len().max(1) as f64
    }
}

/// Significance of one zone under every null model that was run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneSignificance {
    /// `(model, p-value, z-score)` per null model.
    pub per_model: Vec<(NullModel, f64, f64)>,
    /// The largest p-value over the models (a zone must beat every null).
    pub p_value: f64,
    /// Whether `p_value ≤ alpha`.
    pub significant: bool,
}

impl ZoneSignificance {
    /// Scores a relative radius against null distributions.
    ///
    /// ```
    /// use cllm_void::{NullDistribution, NullModel, ZoneSignificance};
    /// let g = NullDistribution { model: NullModel::Gaussian, maxima: vec![1.0; 19] };
    /// let s = NullDistribution { model: NullModel::Shuffle, maxima: vec![2.0; 19] };
    /// let z = ZoneSignificance::score(1.5, &[g, s], 0.05);
    /// assert_eq!(z.p_value, 1.0);
    /// assert!(!z.significant);
    /// ```
    pub fn score(stat: f32, nulls: &[NullDistribution], alpha: f64) -> Self {
        let per_model: Vec<(NullModel, f64, f64)> = nulls
            .iter()
            .map(|n| (n.model, n.p_value(stat), n.z_score(stat)))
            .collect();
        let p_value = per_model.iter().map(|x| x.1).fold(0.0, f64::max);
        let p_value = if per_model.is_empty() { 1.0 } else { p_value };
        Self {
            per_model,
            p_value,
            significant: !nulls.is_empty() && p_value <= alpha,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_null_matches_moments() {
        let mut data = Vec::new();
        for i in 0..2000 {
            let t = i as f32 / 2000.0;
            data.extend_from_slice(&[t, 2.0 * t + 1.0, (i % 7) as f32]);
        }
        let p = PointSet::new(3, data).unwrap();
        let g = null_points(&p, NullModel::Gaussian, 3).unwrap();
        let (m0, m1) = (p.mean(), g.mean());
        let (c0, c1) = (p.covariance(), g.covariance());
        for j in 0..3 {
            assert!((m0[j] - m1[j]).abs() < 0.15, "{m0:?} {m1:?}");
        }
        for j in 0..9 {
            assert!(
                (c0[j] - c1[j]).abs() < 0.1 * c0[j].abs().max(0.5),
                "{c0:?} {c1:?}"
            );
        }
    }
}
