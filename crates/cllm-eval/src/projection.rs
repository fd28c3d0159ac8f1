//! A deterministic 2-D principal-component projection, for drawing a map of the latent
//! space.
//!
//! [`Pca2::fit`] centres the points, forms their covariance in f64 and diagonalises it
//! exactly with cyclic Jacobi rotations ([`cllm_core::shape::symmetric_eigen`]; no random start, no dependence on eigenvalue
//! gaps), then keeps the two directions of largest variance. Each axis's sign is fixed so
//! that its largest-magnitude component is positive (the first such component on a tie),
//! so the same points always give the same picture. Jacobi costs `O(d³)` per sweep in the
//! dimension `d`: milliseconds for the CLLM's 8–64 floats, seconds for a few hundred
//! (2 000 points: 5 ms at `d = 64`, 1.7 s at 384, 6.5 s at 576, on 2 busy AVX-512 cores).

use serde::{Deserialize, Serialize};

use cllm_core::shape::{mean_and_covariance, symmetric_eigen, with_fixed_sign};

use crate::error::{EvalError, Result};

/// The two leading principal axes of a point set, and the projection onto them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pca2 {
    mean: Vec<f64>,
    axes: [Vec<f64>; 2],
    variances: [f64; 2],
    total_variance: f64,
}

impl Pca2 {
    /// Fits the projection to `points` (all of one dimension `d ≥ 1`).
    ///
    /// With `d = 1` the second axis is zero (every point projects to `y = 0`); with
    /// coincident points both variances are 0 and the axes are the first two coordinate
    /// axes.
    ///
    /// # Errors
    /// [`EvalError::InvalidInput`] when there are no points, a point is empty or of another
    /// dimension than the first, or a coordinate is NaN or infinite.
    pub fn fit(points: &[Vec<f32>]) -> Result<Self> {
        let Some(first) = points.first() else {
            return Err(EvalError::InvalidInput(
                "a projection needs at least one point (none given)".into(),
            ));
        };
        let d = first.len();
        if d == 0 {
            return Err(EvalError::InvalidInput("point 0 has no coordinates".into()));
        }
        for (i, p) in points.iter().enumerate() {
            check_point(i, p, d)?;
        }
        // the points were checked above: the covariance cannot fail
        let (mean, cov) = mean_and_covariance(points, 0)
            .map_err(|e| EvalError::InvalidInput(e.to_string()))?;
        let total_variance = (0..d).map(|i| cov[i][i]).sum();

        let (values, vectors) = symmetric_eigen(cov);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
        let axis = |rank: usize| -> (Vec<f64>, f64) {
            match order.get(rank) {
                Some(&j) => (
                    with_fixed_sign(vectors.iter().map(|row| row[j]).collect()),
                    values[j].max(0.0),
                ),
                None => (vec![0.0; d], 0.0),
            }
        };
        let ((a0, v0), (a1, v1)) = (axis(0), axis(1));
        Ok(Self {
            mean,
            axes: [a0, a1],
            variances: [v0, v1],
            total_variance,
        })
    }

    /// The dimension of the points it was fitted to.
    pub fn dimension(&self) -> usize {
        self.mean.len()
    }

    /// The mean of the fitted points (the origin of the map).
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The two unit axes, largest variance first.
    pub fn axes(&self) -> [&[f64]; 2] {
        [&self.axes[0], &self.axes[1]]
    }

    /// The variance of the fitted points along each axis.
    pub fn variances(&self) -> [f64; 2] {
        self.variances
    }

    /// The share of the points' total variance along each axis (0 for both when the points
    /// coincide).
    pub fn explained_variance_ratio(&self) -> [f64; 2] {
        if self.total_variance > 0.0 {
            self.variances.map(|v| v / self.total_variance)
        } else {
            [0.0, 0.0]
        }
    }

    /// The map coordinates of `point`: its centred coordinates along the two axes.
    ///
    /// # Errors
    /// [`EvalError::InvalidInput`] when `point` has another dimension than the fitted
    /// points, or a coordinate is NaN or infinite.
    pub fn project(&self, point: &[f32]) -> Result<[f64; 2]> {
        check_point(0, point, self.dimension())?;
        Ok(self.axes.each_ref().map(|axis| {
            point
                .iter()
                .zip(&self.mean)
                .zip(axis)
                .map(|((&x, m), a)| (f64::from(x) - m) * a)
                .sum()
        }))
    }

    /// [`project`](Self::project) of every point, in order.
    ///
    /// # Errors
    /// As [`project`](Self::project), naming the first bad point.
    pub fn project_all(&self, points: &[Vec<f32>]) -> Result<Vec<[f64; 2]>> {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                check_point(i, p, self.dimension())?;
                self.project(p)
            })
            .collect()
    }
}

fn check_point(index: usize, point: &[f32], dimension: usize) -> Result<()> {
    if point.len() != dimension {
        return Err(EvalError::InvalidInput(format!(
            "point {index} has {} coordinates, expected {dimension}",
            point.len()
        )));
    }
    if let Some(j) = point.iter().position(|x| !x.is_finite()) {
        return Err(EvalError::InvalidInput(format!(
            "coordinate {j} of point {index} is {} (coordinates must be finite)",
            point[j]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn points_on_a_line_give_that_line_and_all_the_variance() {
        // p = (1, 2, 3) + t * (2, -1, 2) / 3, t ∈ {-3, -1, 0, 2, 5}
        let u = [2.0 / 3.0, -1.0 / 3.0, 2.0 / 3.0];
        let points: Vec<Vec<f32>> = [-3.0f64, -1.0, 0.0, 2.0, 5.0]
            .iter()
            .map(|t| {
                vec![
                    (1.0 + t * u[0]) as f32,
                    (2.0 + t * u[1]) as f32,
                    (3.0 + t * u[2]) as f32,
                ]
            })
            .collect();
        let pca = Pca2::fit(&points).unwrap();
        // the components ±2/3 tie in magnitude: the first is made positive
        assert!(close(pca.axes()[0], &u, 1e-6), "{:?}", pca.axes());
        let r = pca.explained_variance_ratio();
        assert!((r[0] - 1.0).abs() < 1e-6 && r[1].abs() < 1e-6, "{r:?}");
        // t has mean 0.6: the projection of each point is t - 0.6 (f32 inputs: ~1e-6)
        let xy = pca.project_all(&points).unwrap();
        for (p, t) in xy.iter().zip([-3.0, -1.0, 0.0, 2.0, 5.0]) {
            assert!(
                (p[0] - (t - 0.6)).abs() < 1e-5 && p[1].abs() < 1e-5,
                "{p:?}"
            );
        }
    }

    #[test]
    fn points_on_a_plane_give_its_axes_and_variance_shares() {
        // a full grid s ∈ {-2,-1,0,1,2} × t ∈ {-1,1} (uncorrelated, mean 0) on the plane
        // spanned by u1 = (0, 0.6, 0.8, 0) and u2 = (0, 0, 0, -1), in 4-D around (5,5,5,5).
        // var(s) = 2, var(t) = 1: ratios 2/3 and 1/3.
        let (u1, u2) = ([0.0, 0.6, 0.8, 0.0], [0.0, 0.0, 0.0, -1.0]);
        let mut points = Vec::new();
        for s in [-2.0, -1.0, 0.0, 1.0, 2.0] {
            for t in [-1.0, 1.0] {
                points.push(
                    (0..4)
                        .map(|i| (5.0 + s * u1[i] + t * u2[i]) as f32)
                        .collect::<Vec<f32>>(),
                );
            }
        }
        let pca = Pca2::fit(&points).unwrap();
        assert!(close(pca.axes()[0], &u1, 1e-6), "{:?}", pca.axes());
        // u2's largest component is negative: the fixed sign flips it
        assert!(
            close(pca.axes()[1], &[0.0, 0.0, 0.0, 1.0], 1e-6),
            "{:?}",
            pca.axes()
        );
        let r = pca.explained_variance_ratio();
        assert!(close(&r, &[2.0 / 3.0, 1.0 / 3.0], 1e-6), "{r:?}");
        assert!(close(&pca.variances(), &[2.0, 1.0], 1e-5));
        assert!(close(pca.mean(), &[5.0; 4], 1e-6));
    }

    #[test]
    fn jacobi_diagonalises_a_dense_symmetric_matrix() {
        // A = V Λ Vᵀ must hold for the returned pairs: check A v = λ v for each column
        let d = 12;
        // (i*j + i + j) is symmetric in i and j
        let sym: Vec<Vec<f64>> = (0..d)
            .map(|i| {
                (0..d)
                    .map(|j| ((i * j + i + j) as f64 * 0.37).sin() + if i == j { 3.0 } else { 0.0 })
                    .collect()
            })
            .collect();
        let (values, vectors) = symmetric_eigen(sym.clone());
        for (k, &lambda) in values.iter().enumerate() {
            for i in 0..d {
                let av: f64 = (0..d).map(|j| sym[i][j] * vectors[j][k]).sum();
                assert!((av - lambda * vectors[i][k]).abs() < 1e-10);
            }
            // and the eigenvectors are orthonormal
            for l in 0..d {
                let dot: f64 = (0..d).map(|i| vectors[i][k] * vectors[i][l]).sum();
                assert!((dot - f64::from(u8::from(k == l))).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn fitting_is_deterministic_and_handles_degenerate_sets() {
        let points: Vec<Vec<f32>> = (0..50)
            .map(|i| {
                (0..16)
                    .map(|j| ((i * 7 + j * 3) as f32 * 0.1).sin())
                    .collect()
            })
            .collect();
        assert_eq!(Pca2::fit(&points).unwrap(), Pca2::fit(&points).unwrap());

        let same = Pca2::fit(&[vec![1.0, 2.0], vec![1.0, 2.0]]).unwrap();
        assert_eq!(same.explained_variance_ratio(), [0.0, 0.0]);
        assert_eq!(same.project(&[1.0, 2.0]).unwrap(), [0.0, 0.0]);

        let line = Pca2::fit(&[vec![1.0], vec![3.0]]).unwrap();
        assert_eq!(line.project(&[4.0]).unwrap(), [2.0, 0.0]);
        assert_eq!(line.explained_variance_ratio(), [1.0, 0.0]);
    }

    #[test]
    fn bad_points_are_refused_by_name() {
        let err = |r: Result<Pca2>| r.unwrap_err().to_string();
        assert!(err(Pca2::fit(&[])).contains("at least one point"));
        assert!(err(Pca2::fit(&[vec![]])).contains("no coordinates"));
        assert!(err(Pca2::fit(&[vec![1.0, 2.0], vec![1.0]]))
            .contains("point 1 has 1 coordinates, expected 2"));
        assert!(err(Pca2::fit(&[vec![1.0, f32::NAN]])).contains("coordinate 1 of point 0 is NaN"));
        let pca = Pca2::fit(&[vec![1.0, 2.0], vec![2.0, 1.0]]).unwrap();
        assert!(pca.project(&[1.0]).is_err());
        assert!(pca.project(&[1.0, f32::INFINITY]).is_err());
        let e = pca
            .project_all(&[vec![1.0, 1.0], vec![1.0]])
            .unwrap_err()
            .to_string();
        assert!(e.contains("point 1"), "{e}");
    }
}
