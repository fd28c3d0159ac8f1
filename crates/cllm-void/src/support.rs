//! The *support* of a point set: where an empty ball counts as lying inside the data
//! rather than at its edge.
//!
//! Two parts:
//!
//! - The **envelope**: the ellipsoid `{c : (c − μ)ᵀ Σ⁻¹ (c − μ) ≤ q²}` with the data's mean
//!   and covariance, `q` being a quantile (default: the maximum) of the data points' own
//!   Mahalanobis distances. Hill-climbing never leaves it, so a ball cannot escape to infinity.
//! - **Enclosure**: a ball touches data *on all sides* when its centre lies (within a
//!   tolerance) in the convex hull of the data points touching its sphere. This is measured
//!   by the **imbalance**: the norm of the minimum-norm point of the convex hull of the unit
//!   vectors from the centre towards those points — `0` when they surround the centre, close
//!   to `1` when they all lie on one side (the ball pokes out of the data). A hill-climbed
//!   centre that is a local maximum of the distance to the data is exactly a centre with
//!   imbalance 0 (the optimality condition of a max–min problem), so the test keeps interior
//!   maxima and drops balls that were stopped at the envelope, at the data's outer boundary.

/// The imbalance of a centre with respect to a set of neighbours, in `[0, 1]`.
///
/// `neighbours` yields the neighbour points; a neighbour equal to the centre makes the
/// imbalance 0 (the centre is a data point). Returns 1 for no neighbour. A neighbour of
/// another dimension than the centre, or a non-finite value, is an error.
///
/// ```
/// use cllm_void::{imbalance, VoidError};
/// let around = [[1.0f32, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]];
/// assert!(imbalance(&[0.0, 0.0], around.iter().map(|p| &p[..]))? < 1e-3);
/// let one_side = [[1.0f32, 0.1], [1.0, -0.1]];
/// assert!(imbalance(&[0.0, 0.0], one_side.iter().map(|p| &p[..]))? > 0.9);
/// let wrong = [[1.0f32, 0.0, 0.0]];
/// assert!(matches!(imbalance(&[0.0, 0.0], wrong.iter().map(|p| &p[..])), Err(VoidError::DimMismatch { .. })));
/// # Ok::<(), VoidError>(())
/// ```
pub fn imbalance<'a>(
    centre: &[f32],
    neighbours: impl IntoIterator<Item = &'a [f32]>,
) -> crate::Result<f32> {
    crate::points::check_vector(centre, centre.len())?;
    let neighbours: Vec<&[f32]> = neighbours.into_iter().collect();
    for p in &neighbours {
        crate::points::check_vector(p, centre.len())?;
    }
    Ok(imbalance_with_stop(centre, neighbours, 0.0))
}

/// [`imbalance`], stopping early once the result is certainly below or above `stop` (then
/// only the side of `stop` it lies on is exact).
pub(crate) fn imbalance_with_stop<'a>(
    centre: &[f32],
    neighbours: impl IntoIterator<Item = &'a [f32]>,
    stop: f32,
) -> f32 {
    let d = centre.len();
    let mut dirs = Vec::new();
    for p in neighbours {
        debug_assert_eq!(p.len(), d, "callers check the dimensions");
        let mut norm2 = 0.0f64;
        let start = dirs.len();
        for (a, b) in p.iter().zip(centre) {
            let t = (*a - *b) as f64;
            dirs.push(t);
            norm2 += t * t;
        }
        if norm2 <= 1e-24 {
            return 0.0;
        }
        let inv = 1.0 / norm2.sqrt();
        dirs[start..].iter_mut().for_each(|v| *v *= inv);
    }
    if dirs.is_empty() {
        return 1.0;
    }
    let (_, norm) = min_norm_in_hull(&dirs, d, stop as f64);
    norm as f32
}

/// The Mahalanobis envelope of a point set (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    mean: Vec<f64>,
    chol: Vec<f64>,
    bound2: f64,
}

impl Envelope {
    /// The envelope at quantile `q` (in `[0, 1]`) of the points' Mahalanobis distances.
    pub(crate) fn new(points: &crate::PointSet, quantile: f32) -> Self {
        let d = points.dim();
        let mean = points.mean();
        let chol = cholesky_regularised(&points.covariance(), d);
        let mut env = Self {
            mean,
            chol,
            bound2: f64::INFINITY,
        };
        let mut m2: Vec<f64> = points.rows().map(|r| env.mahalanobis2(r)).collect();
        m2.sort_by(f64::total_cmp);
        let q = quantile.clamp(0.0, 1.0) as f64;
        let i = ((m2.len() - 1) as f64 * q).round() as usize;
        env.bound2 = m2[i.min(m2.len() - 1)];
        env
    }

    /// Squared Mahalanobis distance of `x` (forward substitution with the Cholesky factor).
    pub(crate) fn mahalanobis2(&self, x: &[f32]) -> f64 {
        let d = self.mean.len();
        let mut y = vec![0.0f64; d];
        let mut s2 = 0.0;
        for i in 0..d {
            let mut s = x[i] as f64 - self.mean[i];
            for (j, yj) in y.iter().enumerate().take(i) {
                s -= self.chol[i * d + j] * yj;
            }
            y[i] = s / self.chol[i * d + i];
            s2 += y[i] * y[i];
        }
        s2
    }

    /// Whether `x` lies inside the envelope.
    pub(crate) fn contains(&self, x: &[f32]) -> bool {
        self.mahalanobis2(x) <= self.bound2
    }
}

/// Minimum-norm point of the convex hull of the `m` rows (each of length `d`) of `vectors`,
/// by Frank–Wolfe with exact line search. Stops early once the norm is certified below
/// `stop_below`. Returns the point and its norm.
pub(crate) fn min_norm_in_hull(vectors: &[f64], d: usize, stop_below: f64) -> (Vec<f64>, f64) {
    let m = vectors.len() / d;
    let row = |i: usize| &vectors[i * d..(i + 1) * d];
    // Start from the mean of the vectors: a good guess when they surround the origin.
    let mut x = vec![0.0f64; d];
    for i in 0..m {
        for (a, b) in x.iter_mut().zip(row(i)) {
            *a += b / m as f64;
        }
    }
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    for _ in 0..500 {
        let xx = dot(&x, &x);
        if xx.sqrt() <= stop_below.max(1e-9) {
            break;
        }
        // Vertex minimising <x, s>.
        let (mut best, mut best_val) = (0, f64::INFINITY);
        for i in 0..m {
            let v = dot(&x, row(i));
            if v < best_val {
                best_val = v;
                best = i;
            }
        }
        // Duality gap <x, x - s>: zero at the optimum.
        let gap = xx - best_val;
        if gap <= 1e-10 * xx.max(1e-12) {
            break;
        }
        // Every vertex s has <x/||x||, s> >= best_val/||x||, a lower bound on the answer:
        // once it exceeds `stop_below` (when set), the answer is certainly above it.
        if stop_below > 0.0 && best_val / xx.sqrt() > stop_below {
            break;
        }
        let s = row(best);
        let mut diff2 = 0.0;
        for j in 0..d {
            let t = x[j] - s[j];
            diff2 += t * t;
        }
        if diff2 <= 1e-18 {
            break;
        }
        let lambda = (gap / diff2).clamp(0.0, 1.0);
        for j in 0..d {
            x[j] += lambda * (s[j] - x[j]);
        }
    }
    let n = dot(&x, &x).sqrt();
    (x, n)
}

/// Lower Cholesky factor of `cov + ε I`, raising ε until the factorisation succeeds.
pub(crate) fn cholesky_regularised(cov: &[f64], d: usize) -> Vec<f64> {
    let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum::<f64>().max(1e-30);
    let mut eps = 1e-10 * trace / d as f64;
    loop {
        if let Some(l) = cholesky(cov, d, eps) {
            return l;
        }
        eps *= 10.0;
    }
}

fn cholesky(a: &[f64], d: usize, eps: f64) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j] + if i == j { eps } else { 0.0 };
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_norm_of_segment_not_containing_origin() {
        // Segment from (1, -1) to (1, 1): closest point to 0 is (1, 0).
        let (x, n) = min_norm_in_hull(&[1.0, -1.0, 1.0, 1.0, 1.0, 0.5], 2, 0.0);
        assert!((n - 1.0).abs() < 1e-3, "{x:?}");
    }

    #[test]
    fn boundary_centre_is_unbalanced() {
        let pts: Vec<[f32; 3]> = (0..20)
            .map(|i| {
                let a = i as f32 * 0.3;
                [1.0 + 0.1 * a.cos(), a.sin(), a.cos()]
            })
            .collect();
        assert!(imbalance(&[0.0; 3], pts.iter().map(|p| &p[..])).unwrap() > 0.3);
        assert!(imbalance(&[1.0, 0.0, 0.0], pts.iter().map(|p| &p[..])).unwrap() < 0.1);
    }
}
