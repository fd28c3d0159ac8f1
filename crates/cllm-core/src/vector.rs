use serde::{Deserialize, Serialize};

use crate::error::{first_non_finite, CoreError};

/// A whole text folded into one small vector (typically 8–64 floats) by a CLLM.
///
/// Always non-empty and finite.
///
/// ```
/// use cllm_core::TextVector;
/// let a = TextVector::new(vec![0.0, 3.0])?;
/// let b = TextVector::new(vec![4.0, 0.0])?;
/// assert_eq!(a.dim(), 2);
/// assert_eq!(a.distance(&b)?, 5.0);
/// assert!(TextVector::new(vec![]).is_err());
/// # Ok::<(), cllm_core::CoreError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TextVector(Vec<f32>);

impl TextVector {
    /// Wraps `values`, rejecting an empty vector or a NaN/infinite value.
    pub fn new(values: Vec<f32>) -> Result<Self, CoreError> {
        if values.is_empty() {
            return Err(CoreError::Empty {
                what: "text vector",
            });
        }
        if let Some(index) = first_non_finite(&values) {
            return Err(CoreError::NonFinite {
                what: "text vector",
                index,
            });
        }
        Ok(Self(values))
    }

    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.0.len()
    }

    /// The values.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Consumes the vector, returning its values.
    pub fn into_vec(self) -> Vec<f32> {
        self.0
    }

    /// Euclidean distance to `other`; an error if the dimensions differ.
    pub fn distance(&self, other: &TextVector) -> Result<f32, CoreError> {
        if self.dim() != other.dim() {
            return Err(CoreError::ShapeMismatch {
                what: "text vector",
                expected: format!("{} dims", self.dim()),
                got: format!("{} dims", other.dim()),
            });
        }
        Ok(self
            .0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt())
    }
}

impl AsRef<[f32]> for TextVector {
    fn as_ref(&self) -> &[f32] {
        &self.0
    }
}

impl TryFrom<Vec<f32>> for TextVector {
    type Error = CoreError;
    fn try_from(values: Vec<f32>) -> Result<Self, CoreError> {
        Self::new(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nan_and_dim_mismatch() {
        assert!(matches!(
            TextVector::new(vec![1.0, f32::NAN]),
            Err(CoreError::NonFinite { index: 1, .. })
        ));
        let a = TextVector::new(vec![1.0]).unwrap();
        let b = TextVector::new(vec![1.0, 2.0]).unwrap();
        assert!(a.distance(&b).is_err());
    }
}
