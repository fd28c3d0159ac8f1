use serde::{Deserialize, Serialize};

use crate::error::{first_non_finite, CoreError};

/// A text as a dense `[L × d]` matrix, row-major: one row of `d` floats per token.
///
/// Produced by a [`Backbone`](crate::Backbone) (`L` tokens at width `d`), compressed by a
/// CLLM into a [`TextVector`](crate::TextVector) and restored by its decoder. Every
/// constructor checks the shape and rejects NaN and infinities, so a `TokenMatrix`
/// always holds `rows * cols` finite values.
///
/// ```
/// use cllm_core::TokenMatrix;
/// let m = TokenMatrix::new(2, 2, vec![1.0, 2.0, 3.0, 4.0])?;
/// assert_eq!(m.rows(), 2);
/// assert_eq!(m.cols(), 2);
/// assert_eq!(m.row(0), &[1.0, 2.0]);
/// assert!(TokenMatrix::new(2, 2, vec![1.0; 3]).is_err());
/// assert!(TokenMatrix::new(1, 1, vec![f32::NAN]).is_err());
/// # Ok::<(), cllm_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenMatrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl TokenMatrix {
    /// Builds a matrix from row-major data, checking `data.len() == rows * cols`,
    /// `cols > 0` and that every value is finite. `rows` may be 0 (an empty text).
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self, CoreError> {
        if cols == 0 {
            return Err(CoreError::Empty {
                what: "token matrix width",
            });
        }
        let expected = rows
            .checked_mul(cols)
            .ok_or_else(|| CoreError::ShapeMismatch {
                what: "token matrix",
                expected: "rows * cols to fit in usize".into(),
                got: format!("{rows} x {cols}"),
            })?;
        if data.len() != expected {
            return Err(CoreError::ShapeMismatch {
                what: "token matrix data",
                expected: format!("{rows} x {cols} = {expected} values"),
                got: format!("{} values", data.len()),
            });
        }
        if let Some(index) = first_non_finite(&data) {
            return Err(CoreError::NonFinite {
                what: "token matrix",
                index,
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// Builds a matrix from rows of equal length.
    ///
    /// ```
    /// use cllm_core::TokenMatrix;
    /// let m = TokenMatrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]])?;
    /// assert_eq!(m.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    /// # Ok::<(), cllm_core::CoreError>(())
    /// ```
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self, CoreError> {
        let cols = rows.first().map(Vec::len).ok_or(CoreError::Empty {
            what: "token matrix rows",
        })?;
        let mut data = Vec::with_capacity(rows.len() * cols);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != cols {
                return Err(CoreError::ShapeMismatch {
                    what: "token matrix row",
                    expected: format!("{cols} values"),
                    got: format!("{} values in row {i}", r.len()),
                });
            }
            data.extend_from_slice(r);
        }
        Self::new(rows.len(), cols, data)
    }

    /// Number of rows (tokens), `L`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (embedding width), `d`.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Whether the matrix has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Row `i` (the embedding of token `i`). Panics if `i >= rows()`, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Iterator over the rows.
    pub fn iter_rows(&self) -> impl ExactSizeIterator<Item = &[f32]> + '_ {
        self.data.chunks_exact(self.cols)
    }

    /// All values, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Consumes the matrix, returning its row-major values.
    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }

    /// The first `n` rows (or all of them if `n >= rows()`).
    pub fn truncated(&self, n: usize) -> TokenMatrix {
        let n = n.min(self.rows);
        TokenMatrix {
            rows: n,
            cols: self.cols,
            data: self.data[..n * self.cols].to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_shapes_and_values() {
        assert!(matches!(
            TokenMatrix::new(2, 3, vec![0.0; 5]),
            Err(CoreError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            TokenMatrix::new(1, 0, vec![]),
            Err(CoreError::Empty { .. })
        ));
        assert!(matches!(
            TokenMatrix::new(1, 2, vec![0.0, f32::INFINITY]),
            Err(CoreError::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            TokenMatrix::new(usize::MAX, 2, vec![]),
            Err(CoreError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            TokenMatrix::from_rows(&[vec![1.0], vec![1.0, 2.0]]),
            Err(CoreError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rows_and_truncation() {
        let m = TokenMatrix::new(3, 2, (0..6).map(|v| v as f32).collect()).unwrap();
        assert_eq!(m.iter_rows().count(), 3);
        assert_eq!(m.row(2), &[4.0, 5.0]);
        let t = m.truncated(2);
        assert_eq!(t.shape(), (2, 2));
        assert_eq!(m.truncated(10), m);
    }

    #[test]
    fn serde_round_trip() {
        let m = TokenMatrix::new(1, 3, vec![1.0, 2.0, 3.0]).unwrap();
        let s = serde_json::to_string(&m).unwrap();
        let back: TokenMatrix = serde_json::from_str(&s).unwrap();
        assert_eq!(m, back);
    }
}
