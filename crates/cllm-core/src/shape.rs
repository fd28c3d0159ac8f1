//! The shape of a set of text vectors: how many independent directions its codes use.
//!
//! A CLLM's text vector has `k` coordinates, but nothing forces it to use them: a code whose
//! coordinates are near-copies of one number carries one number, however large `k` is (a
//! `cpu-k64` CLLM1 trained with the standardised vector alone measured a participation
//! ratio of 1.1 of 64, its first principal direction holding 95% of the variance, and that
//! direction was the corpus's source, not its content). [`CodeShape::of`] reads the
//! spectrum of the codes' covariance:
//!
//! - the **participation ratio** `(Σλ)² / Σλ²` of the covariance eigenvalues `λ`: `k` when
//!   every direction holds the same variance, 1 when one direction holds all of it;
//! - the **directions holding 90%** of the variance (the fewest leading eigenvalues whose
//!   sum reaches 90% of the total);
//! - the **first direction's share** of the variance;
//! - the **mean |correlation|** between two coordinates (the off-diagonal entries of the
//!   correlation matrix): near 1 when the coordinates copy each other, near 0 when they are
//!   decorrelated.
//!
//! Everything is computed in f64 from f32 codes; the eigenvalues by cyclic Jacobi rotations
//! ([`symmetric_eigen`]), exact to rounding for the `k ≤ 64` of a text vector. The same
//! solver draws the report's 2-D map.

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// Jacobi sweeps before giving up on convergence (it converges quadratically; a handful of
/// sweeps suffice in practice).
const MAX_SWEEPS: usize = 100;

/// The spectrum of a set of codes (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeShape {
    /// Codes measured.
    pub codes: usize,
    /// Their dimension `k`.
    pub dim: usize,
    /// `(Σλ)² / Σλ²`, between 1 and `k` (0 when the codes coincide).
    pub participation_ratio: f64,
    /// The fewest principal directions holding 90% of the variance.
    pub directions_90: usize,
    /// The first principal direction's share of the variance.
    pub first_direction_share: f64,
    /// Mean |correlation| between two distinct coordinates (coordinates without variance
    /// are left out; 0 for `k = 1`).
    pub mean_abs_correlation: f64,
    /// The covariance eigenvalues, largest first.
    pub eigenvalues: Vec<f64>,
    /// The first principal direction (unit; its largest-magnitude component positive), so
    /// that callers can ask what it separates ([`CodeShape::project_first`]).
    pub first_direction: Vec<f64>,
    /// The mean of the codes.
    pub mean: Vec<f64>,
}

impl CodeShape {
    /// Measures `codes` (at least 2, all of one dimension, finite).
    ///
    /// ```
    /// use cllm_core::CodeShape;
    /// // two coordinates that copy each other: one direction
    /// let codes: Vec<Vec<f32>> = (0..10).map(|i| vec![i as f32, 2.0 * i as f32]).collect();
    /// let s = CodeShape::of(&codes)?;
    /// assert!((s.participation_ratio - 1.0).abs() < 1e-9);
    /// assert!((s.mean_abs_correlation - 1.0).abs() < 1e-9);
    /// assert_eq!(s.directions_90, 1);
    /// # Ok::<(), cllm_core::CoreError>(())
    /// ```
    ///
    /// # Errors
    /// [`CoreError::Empty`] for fewer than 2 codes or empty codes, [`CoreError::ShapeMismatch`]
    /// for codes of different dimensions, [`CoreError::NonFinite`] for NaN or infinity.
    pub fn of(codes: &[Vec<f32>]) -> Result<Self, CoreError> {
        if codes.len() < 2 {
            return Err(CoreError::Empty {
                what: "codes (a shape needs at least 2)",
            });
        }
        let (mean, cov) = mean_and_covariance(codes, 1)?;
        let k = mean.len();
        let (values, vectors) = symmetric_eigen(cov.clone());
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
        let eigenvalues: Vec<f64> = order.iter().map(|&j| values[j].max(0.0)).collect();
        let total: f64 = eigenvalues.iter().sum();
        let squares: f64 = eigenvalues.iter().map(|l| l * l).sum();
        let participation_ratio = if squares > 0.0 {
            total * total / squares
        } else {
            0.0
        };
        let mut directions_90 = 0;
        let mut acc = 0.0;
        for l in &eigenvalues {
            if total <= 0.0 || acc >= 0.9 * total {
                break;
            }
            acc += l;
            directions_90 += 1;
        }
        let first_direction = with_fixed_sign(vectors.iter().map(|row| row[order[0]]).collect());
        Ok(Self {
            codes: codes.len(),
            dim: k,
            participation_ratio,
            directions_90,
            first_direction_share: if total > 0.0 {
                eigenvalues[0] / total
            } else {
                0.0
            },
            mean_abs_correlation: mean_abs_correlation(&cov),
            eigenvalues,
            first_direction,
            mean,
        })
    }

    /// The coordinate of `code` along the first principal direction (centred on the mean).
    ///
    /// # Errors
    /// [`CoreError::ShapeMismatch`] when `code` has another dimension.
    pub fn project_first(&self, code: &[f32]) -> Result<f64, CoreError> {
        if code.len() != self.dim {
            return Err(CoreError::ShapeMismatch {
                what: "code projected on the first direction",
                expected: self.dim.to_string(),
                got: code.len().to_string(),
            });
        }
        Ok(code
            .iter()
            .zip(&self.mean)
            .zip(&self.first_direction)
            .map(|((&x, m), d)| (f64::from(x) - m) * d)
            .sum())
    }
}

/// The mean and the covariance (divided by `n − ddof`: 1 for the sample covariance, 0 for
/// the population's) of `codes`, in f64.
///
/// # Errors
/// [`CoreError::Empty`] for no more than `ddof` codes or empty codes,
/// [`CoreError::ShapeMismatch`] for codes of different dimensions, [`CoreError::NonFinite`]
/// for NaN or infinity.
pub fn mean_and_covariance(
    codes: &[Vec<f32>],
    ddof: usize,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), CoreError> {
    if codes.len() <= ddof {
        return Err(CoreError::Empty {
            what: "codes (too few for a covariance)",
        });
    }
    let k = codes[0].len();
    if k == 0 {
        return Err(CoreError::Empty { what: "code" });
    }
    for (i, c) in codes.iter().enumerate() {
        if c.len() != k {
            return Err(CoreError::ShapeMismatch {
                what: "code dimension",
                expected: k.to_string(),
                got: format!("{} (code {i})", c.len()),
            });
        }
        if let Some(j) = c.iter().position(|x| !x.is_finite()) {
            return Err(CoreError::NonFinite {
                what: "code",
                index: i * k + j,
            });
        }
    }
    let n = codes.len() as f64;
    let mut mean = vec![0.0f64; k];
    for c in codes {
        for (m, &x) in mean.iter_mut().zip(c) {
            *m += f64::from(x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut cov = vec![vec![0.0f64; k]; k];
    let mut centred = vec![0.0f64; k];
    for c in codes {
        for ((d, &x), m) in centred.iter_mut().zip(c).zip(&mean) {
            *d = f64::from(x) - m;
        }
        for (row, &ci) in cov.iter_mut().zip(&centred) {
            for (cell, &cj) in row.iter_mut().zip(&centred) {
                *cell += ci * cj;
            }
        }
    }
    cov.iter_mut().flatten().for_each(|c| *c /= n - ddof as f64);
    Ok((mean, cov))
}

/// Mean |correlation| over pairs of distinct coordinates that both vary.
fn mean_abs_correlation(cov: &[Vec<f64>]) -> f64 {
    let k = cov.len();
    let (mut sum, mut pairs) = (0.0, 0usize);
    for i in 0..k {
        for j in i + 1..k {
            let v = cov[i][i] * cov[j][j];
            if v > 0.0 {
                sum += (cov[i][j] / v.sqrt()).abs();
                pairs += 1;
            }
        }
    }
    if pairs == 0 {
        0.0
    } else {
        sum / pairs as f64
    }
}

/// Eigenvalues and eigenvectors (the columns of the second result) of the symmetric matrix
/// `a`, by cyclic Jacobi rotations: no random start and no dependence on eigenvalue gaps,
/// so the same matrix always gives the same result. `O(d³)` per sweep: milliseconds for
/// `d = 64`, seconds for a few hundred.
pub fn symmetric_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let d = a.len();
    let mut v: Vec<Vec<f64>> = (0..d)
        .map(|i| (0..d).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let scale: f64 = a.iter().flatten().map(|x| x * x).sum();
    for _ in 0..MAX_SWEEPS {
        let off: f64 = (0..d)
            .flat_map(|p| (p + 1..d).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off <= scale * 1e-30 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                if a[p][q] != 0.0 {
                    rotate(&mut a, &mut v, p, q);
                }
            }
        }
    }
    ((0..d).map(|i| a[i][i]).collect(), v)
}

/// One Jacobi rotation `a ← Jᵀ a J`, `v ← v J`, zeroing `a[p][q]` (`p < q`).
fn rotate(a: &mut [Vec<f64>], v: &mut [Vec<f64>], p: usize, q: usize) {
    let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for row in a.iter_mut() {
        let (kp, kq) = (row[p], row[q]);
        row[p] = c * kp - s * kq;
        row[q] = s * kp + c * kq;
    }
    let (upper, lower) = a.split_at_mut(q);
    for (pk, qk) in upper[p].iter_mut().zip(lower[0].iter_mut()) {
        (*pk, *qk) = (c * *pk - s * *qk, s * *pk + c * *qk);
    }
    a[p][q] = 0.0;
    a[q][p] = 0.0;
    for row in v.iter_mut() {
        let (kp, kq) = (row[p], row[q]);
        row[p] = c * kp - s * kq;
        row[q] = s * kp + c * kq;
    }
}

/// `v` with its sign fixed so that its largest-magnitude component (the first on a tie) is
/// positive: the same points always give the same axis.
pub fn with_fixed_sign(mut v: Vec<f64>) -> Vec<f64> {
    let mut best = 0usize;
    for (i, x) in v.iter().enumerate() {
        if x.abs() > v[best].abs() {
            best = i;
        }
    }
    if v.get(best).is_some_and(|&x| x < 0.0) {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes and their numpy-computed shape (`scripts/code_shape_fixture.py`).
    #[derive(Deserialize)]
    struct Fixture {
        cases: Vec<Case>,
    }
    #[derive(Deserialize)]
    struct Case {
        name: String,
        codes: Vec<Vec<f32>>,
        participation_ratio: f64,
        directions_90: usize,
        first_direction_share: f64,
        mean_abs_correlation: f64,
        eigenvalues: Vec<f64>,
    }

    #[test]
    fn the_shape_matches_numpy() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/code_shape.json");
        let text = std::fs::read_to_string(path).expect("fixtures/code_shape.json is committed");
        let fixture: Fixture = serde_json::from_str(&text).unwrap();
        assert!(fixture.cases.len() >= 3);
        for case in fixture.cases {
            let s = CodeShape::of(&case.codes).unwrap();
            // f64 sums of ≤ 400 products of f32 inputs of size ≤ 10 against numpy's f64
            // (LAPACK eigvalsh): agreement to ~1e-9 relative; 1e-7 leaves room for the two
            // eigen solvers' different rounding paths.
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-7 * (1.0 + b.abs());
            assert!(
                close(s.participation_ratio, case.participation_ratio),
                "{}: {} vs {}",
                case.name,
                s.participation_ratio,
                case.participation_ratio
            );
            assert!(close(s.first_direction_share, case.first_direction_share), "{}", case.name);
            assert!(close(s.mean_abs_correlation, case.mean_abs_correlation), "{}", case.name);
            assert_eq!(s.directions_90, case.directions_90, "{}", case.name);
            for (a, b) in s.eigenvalues.iter().zip(&case.eigenvalues) {
                assert!(close(*a, *b), "{}: eigenvalue {a} vs {b}", case.name);
            }
        }
    }

    #[test]
    fn isotropic_codes_use_every_direction() {
        // the 4 corners of a square and their mirror: equal variance on both axes
        let codes = vec![
            vec![1.0f32, 0.0],
            vec![-1.0, 0.0],
            vec![0.0, 1.0],
            vec![0.0, -1.0],
        ];
        let s = CodeShape::of(&codes).unwrap();
        assert!((s.participation_ratio - 2.0).abs() < 1e-12);
        assert_eq!(s.directions_90, 2);
        assert!(s.mean_abs_correlation.abs() < 1e-12);
        assert!((s.first_direction_share - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_first_direction_projects_what_varies_most() {
        let codes: Vec<Vec<f32>> = (0..20)
            .map(|i| vec![i as f32, (i % 2) as f32 * 0.1, 3.0])
            .collect();
        let s = CodeShape::of(&codes).unwrap();
        let lo = s.project_first(&codes[0]).unwrap();
        let hi = s.project_first(&codes[19]).unwrap();
        assert!(hi > lo);
        assert!((hi - lo - 19.0).abs() < 0.01);
        assert!(s.project_first(&[0.0]).is_err());
    }

    #[test]
    fn bad_codes_are_refused_by_name() {
        assert!(matches!(
            CodeShape::of(&[vec![1.0]]),
            Err(CoreError::Empty { .. })
        ));
        assert!(matches!(
            CodeShape::of(&[vec![], vec![]]),
            Err(CoreError::Empty { .. })
        ));
        assert!(matches!(
            CodeShape::of(&[vec![1.0, 2.0], vec![1.0]]),
            Err(CoreError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            CodeShape::of(&[vec![1.0, 2.0], vec![1.0, f32::NAN]]),
            Err(CoreError::NonFinite { index: 3, .. })
        ));
        // coincident codes: no variance, no direction, no error
        let s = CodeShape::of(&[vec![1.0, 2.0], vec![1.0, 2.0]]).unwrap();
        assert_eq!(s.participation_ratio, 0.0);
        assert_eq!(s.directions_90, 0);
    }

    #[test]
    fn jacobi_diagonalises_a_dense_symmetric_matrix() {
        let sym = vec![
            vec![4.0, 1.0, -2.0, 2.0],
            vec![1.0, 2.0, 0.0, 1.0],
            vec![-2.0, 0.0, 3.0, -2.0],
            vec![2.0, 1.0, -2.0, -1.0],
        ];
        let (values, vectors) = symmetric_eigen(sym.clone());
        for (j, &l) in values.iter().enumerate() {
            for i in 0..4 {
                let av: f64 = (0..4).map(|m| sym[i][m] * vectors[m][j]).sum();
                assert!((av - l * vectors[i][j]).abs() < 1e-10);
            }
        }
    }
}
