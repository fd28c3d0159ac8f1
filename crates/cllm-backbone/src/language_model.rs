//! SmolLM2 (any llama backbone) as a [`LanguageModel`]: per-token log-probabilities from
//! one forward pass of the full model.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use cllm_core::{Backbone, CoreError, LanguageModel};

use crate::backbone::LlamaBackbone;

impl<B: Backend> LanguageModel for LlamaBackbone<B> {
    fn token_logprobs(&self, ids: &[u32]) -> Result<Vec<f32>, CoreError> {
        self.check_ids(ids)?;
        if ids.len() > self.max_len() {
            return Err(CoreError::TooLong {
                len: ids.len(),
                max: self.max_len(),
            });
        }
        if ids.len() < 2 {
            return Ok(Vec::new());
        }
        let n = ids.len() - 1;
        let logits = self.next_token_logits(&[ids.to_vec()])?; // [1, len, V]
        let [_, _, v] = logits.dims();
        let logp = log_softmax(logits.narrow(1, 0, n).reshape([n, v]), 1);
        let next: Vec<i64> = ids[1..].iter().map(|&t| i64::from(t)).collect();
        let next = Tensor::<B, 2, Int>::from_data(TensorData::new(next, [n, 1]), self.device());
        let picked = logp.gather(1, next).reshape([n]);
        let values = picked
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| CoreError::Backend(format!("reading log-probabilities: {e:?}").into()))?;
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(CoreError::NonFinite {
                what: "token log-probabilities",
                index,
            });
        }
        Ok(values)
    }
}
