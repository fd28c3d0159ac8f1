use serde::{Deserialize, Serialize};

use crate::error::{Result, VoidError};

/// A validated set of `n` points of dimension `dim`, stored row-major in one flat buffer.
///
/// Every value is finite and `dim > 0`; the buffer length is `n * dim`.
///
/// ```
/// use cllm_void::PointSet;
/// let p = PointSet::new(2, vec![0.0, 0.0, 3.0, 4.0])?;
/// assert_eq!((p.len(), p.dim()), (2, 2));
/// assert_eq!(p.row(1), &[3.0, 4.0]);
/// assert!(PointSet::new(3, vec![0.0; 4]).is_err());
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointSet {
    dim: usize,
    data: Vec<f32>,
}

impl PointSet {
    /// Wraps a row-major buffer; rejects `dim == 0`, a ragged buffer and non-finite values.
    pub fn new(dim: usize, data: Vec<f32>) -> Result<Self> {
        if dim == 0 {
            return Err(VoidError::InvalidInput("dimension must be positive".into()));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(VoidError::DimMismatch {
                expected: dim,
                got: data.len() % dim,
            });
        }
        if let Some(index) = data.iter().position(|v| !v.is_finite()) {
            return Err(VoidError::NonFinite {
                what: "point set",
                index,
            });
        }
        Ok(Self { dim, data })
    }

    /// Builds a point set from rows, checking that every row has the same dimension.
    ///
    /// ```
    /// use cllm_void::PointSet;
    /// let p = PointSet::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]])?;
    /// assert_eq!(p.len(), 2);
    /// # Ok::<(), cllm_void::VoidError>(())
    /// ```
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> Result<Self> {
        let dim = rows
            .first()
            .map(|r| r.as_ref().len())
            .ok_or(VoidError::TooFewPoints { need: 1, got: 0 })?;
        let mut data = Vec::with_capacity(dim * rows.len());
        for r in rows {
            let r = r.as_ref();
            if r.len() != dim {
                return Err(VoidError::DimMismatch {
                    expected: dim,
                    got: r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Self::new(dim, data)
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Whether the set holds no point.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Dimension of every point.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Point `i` (panics if `i >= len()`, like slice indexing).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The flat row-major buffer.
    pub fn as_flat(&self) -> &[f32] {
        &self.data
    }

    /// Iterates over the points.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        self.data.chunks_exact(self.dim)
    }

    /// Checks that `q` is a finite vector of this set's dimension.
    pub fn check_query(&self, q: &[f32]) -> Result<()> {
        check_vector(q, self.dim)
    }

    /// Per-coordinate mean (f64).
    pub fn mean(&self) -> Vec<f64> {
        let mut m = vec![0.0f64; self.dim];
        for r in self.rows() {
            for (a, &b) in m.iter_mut().zip(r) {
                *a += b as f64;
            }
        }
        let n = self.len().max(1) as f64;
        m.iter_mut().for_each(|a| *a /= n);
        m
    }

    /// Sample covariance (row-major `dim × dim`, f64), with divisor `n - 1`.
    pub fn covariance(&self) -> Vec<f64> {
        let d = self.dim;
        let mean = self.mean();
        let mut c = vec![0.0f64; d * d];
        let mut centred = vec![0.0f64; d];
        for r in self.rows() {
            for j in 0..d {
                centred[j] = r[j] as f64 - mean[j];
            }
            for a in 0..d {
                let ca = centred[a];
                for b in a..d {
                    c[a * d + b] += ca * centred[b];
                }
            }
        }
        let denom = (self.len().max(2) - 1) as f64;
        for a in 0..d {
            for b in a..d {
                let v = c[a * d + b] / denom;
                c[a * d + b] = v;
                c[b * d + a] = v;
            }
        }
        c
    }
}

/// Checks that `v` has `dim` finite values.
pub(crate) fn check_vector(v: &[f32], dim: usize) -> Result<()> {
    if v.len() != dim {
        return Err(VoidError::DimMismatch {
            expected: dim,
            got: v.len(),
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(VoidError::NonFinite {
            what: "vector",
            index,
        });
    }
    Ok(())
}

/// Squared Euclidean distance, accumulated in 8 lanes so that it vectorises.
#[inline]
pub(crate) fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "callers check the dimensions");
    let mut lanes = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let t = x[l] - y[l];
            lanes[l] += t * t;
        }
    }
    let mut s: f32 = lanes.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        let t = x - y;
        s += t * t;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squared_distance_matches_naive() {
        for d in [1usize, 7, 8, 9, 16, 33] {
            let a: Vec<f32> = (0..d).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..d).map(|i| (d - i) as f32).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!((squared_distance(&a, &b) - naive).abs() <= 1e-3 * naive.max(1.0));
        }
    }

    #[test]
    fn covariance_of_known_set() {
        let p = PointSet::new(2, vec![0.0, 0.0, 2.0, 2.0, 4.0, 4.0]).unwrap();
        assert_eq!(p.mean(), vec![2.0, 2.0]);
        assert_eq!(p.covariance(), vec![4.0, 4.0, 4.0, 4.0]);
    }
}
