//! k-nearest-neighbour density, in log space: `log p = log k − log n − log V_d − d · log r_k`
//! (never `r_k^d`, which under- or overflows in 64 dimensions).

use crate::error::{Result, VoidError};
use crate::index::KnnIndex;

/// Natural log of the volume of the unit ball in `d` dimensions,
/// `(d/2) log π − log Γ(d/2 + 1)`, with the gamma function evaluated exactly for
/// half-integers.
///
/// ```
/// use cllm_void::log_unit_ball_volume;
/// assert!((log_unit_ball_volume(2) - std::f64::consts::PI.ln()).abs() < 1e-12);
/// assert!((log_unit_ball_volume(3) - (4.0 / 3.0 * std::f64::consts::PI).ln()).abs() < 1e-12);
/// ```
pub fn log_unit_ball_volume(d: usize) -> f64 {
    let half = d as f64 / 2.0;
    half * std::f64::consts::PI.ln() - log_gamma_half_integer_plus_one(d)
}

/// `log Γ(d/2 + 1)` for integer `d`.
fn log_gamma_half_integer_plus_one(d: usize) -> f64 {
    if d.is_multiple_of(2) {
        // Γ(m + 1) = m!
        (1..=d / 2).map(|i| (i as f64).ln()).sum()
    } else {
        // Γ(m + 1/2 + 1) = Γ(1/2) · Π_{i=0..=m} (i + 1/2)
        let m = d / 2;
        0.5 * std::f64::consts::PI.ln() + (0..=m).map(|i| (i as f64 + 0.5).ln()).sum::<f64>()
    }
}

/// Log k-NN density from a k-th neighbour distance, for `n` reference points in `d` dims.
/// A zero distance gives `+∞`.
///
/// ```
/// use cllm_void::log_knn_density;
/// // 1 neighbour within r = 0.5 among 10 points in 1-D: p = 1 / (10 · 2 · 0.5) = 0.1.
/// assert!((log_knn_density(1, 10, 1, 0.5) - 0.1f64.ln()).abs() < 1e-12);
/// ```
pub fn log_knn_density(k: usize, n: usize, d: usize, r_k: f32) -> f64 {
    (k as f64).ln() - (n as f64).ln() - log_unit_ball_volume(d) - d as f64 * (r_k as f64).ln()
}

/// Log k-NN density at every indexed point (the point itself excluded, so `n − 1` reference
/// points).
///
/// ```
/// use cllm_void::{log_density_at_points, KnnIndex, IndexKind, PointSet};
/// let idx = KnnIndex::build(PointSet::new(1, vec![0.0, 1.0, 2.0, 10.0])?, IndexKind::Auto)?;
/// let ld = log_density_at_points(&idx, 1)?;
/// assert!(ld[1] > ld[3]);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn log_density_at_points(index: &KnnIndex, k: usize) -> Result<Vec<f64>> {
    let table = index.knn_all(k)?;
    let (n, d) = (index.len(), index.dim());
    Ok(table
        .kth_distances()
        .into_iter()
        .map(|r| log_knn_density(k, n - 1, d, r))
        .collect())
}

/// Log k-NN density at a query point.
///
/// ```
/// use cllm_void::{log_density_at, KnnIndex, IndexKind, PointSet};
/// let idx = KnnIndex::build(PointSet::new(1, vec![0.0, 1.0, 2.0, 10.0])?, IndexKind::Auto)?;
/// assert!(log_density_at(&idx, &[1.5], 2)? > log_density_at(&idx, &[6.0], 2)?);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn log_density_at(index: &KnnIndex, q: &[f32], k: usize) -> Result<f64> {
    if k == 0 || k > index.len() {
        return Err(VoidError::InvalidInput(format!(
            "k must be in 1..={}",
            index.len()
        )));
    }
    let nb = index.knn(q, k)?;
    Ok(log_knn_density(
        k,
        index.len(),
        index.dim(),
        nb[k - 1].distance,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ball_volume_is_finite_in_high_dim() {
        // V_64 is about 3.1e-20: its log is finite and negative.
        let v = log_unit_ball_volume(64);
        assert!(v.is_finite() && v < -40.0 && v > -50.0, "{v}");
        assert!((log_unit_ball_volume(1) - 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn density_in_64_dims_does_not_underflow() {
        let ld = log_knn_density(10, 1000, 64, 1e-3);
        assert!(ld.is_finite());
    }
}
