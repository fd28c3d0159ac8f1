//! What every checkpoint loader shares: a source of named f32 tensors checked against their
//! expected shapes, and the burn parameters built from them.

use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::BackboneError;

/// A checkpoint file seen as named f32 tensors (GGUF dequantised, safetensors converted).
pub(crate) trait WeightSource<B: Backend> {
    /// The device the parameters go to.
    fn device(&self) -> &B::Device;

    /// The raw values of `name` (any checkpoint prefix applied), checked against the expected
    /// row-major shape; a missing tensor or another shape is an error.
    fn raw_values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, BackboneError>;

    /// The full name of `name` in the file, for error messages.
    fn full_name(&self, name: &str) -> String {
        name.to_string()
    }

    /// [`raw_values`](Self::raw_values), refusing a value count that does not fill the
    /// shape and NaN or infinite weights.
    fn values(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>, BackboneError> {
        let values = self.raw_values(name, expected)?;
        let needed = expected.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if needed != Some(values.len()) {
            return Err(BackboneError::TensorShape {
                name: self.full_name(name),
                expected: expected.to_vec(),
                got: vec![values.len()],
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(BackboneError::NonFiniteWeight(self.full_name(name)));
        }
        Ok(values)
    }

    /// A tensor of `shape` from `values`, on the device.
    fn tensor<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Tensor<B, D> {
        Tensor::from_data(TensorData::new(values, shape), self.device())
    }

    /// A `[n]` parameter.
    fn vector(&self, name: &str, n: usize) -> Result<Param<Tensor<B, 1>>, BackboneError> {
        Ok(Param::from_tensor(
            self.tensor(self.values(name, &[n])?, [n]),
        ))
    }

    /// A `[rows, cols]` tensor.
    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Tensor<B, 2>, BackboneError> {
        Ok(self.tensor(self.values(name, &[rows, cols])?, [rows, cols]))
    }
}
