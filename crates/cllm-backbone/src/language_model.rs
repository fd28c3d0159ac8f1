//! SmolLM2 (any llama backbone) as a [`LanguageModel`]: per-token log-probabilities from
//! one forward pass of the full model, and [`Continuations`] read one token at a time
//! against a key/value cache ([`LlamaKvCache`]).

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use cllm_core::{Backbone, Continuations, ContinuationsStart, CoreError, LanguageModel};

use crate::backbone::LlamaBackbone;
use crate::llama::LlamaKvCache;

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

    fn continuations(
        &self,
        prefix: &[u32],
        rows: usize,
    ) -> Result<ContinuationsStart<'_>, CoreError> {
        if !prefix.is_empty() {
            self.check_ids(prefix)?;
        }
        let mut state = LlamaContinuations {
            backbone: self,
            cache: None,
            rows: 1,
        };
        if prefix.is_empty() {
            state.rows = rows;
            return Ok((Box::new(state), None));
        }
        // read the prefix once, then copy its cache to every row
        let v = state.extend_rows(&[0], &[prefix.to_vec()])?;
        let first = v.into_iter().next().unwrap_or_default();
        let keep = vec![0; rows];
        state.cache = state
            .cache
            .map(|c| c.select(index_tensor(&keep, self.device())));
        state.rows = rows;
        Ok((Box::new(state), Some(vec![first; rows])))
    }
}

/// Texts extended one token at a time through [`Llama::forward_cached`](crate::llama::Llama::forward_cached).
struct LlamaContinuations<'a, B: Backend> {
    backbone: &'a LlamaBackbone<B>,
    /// `None` until the first token is read.
    cache: Option<LlamaKvCache<B>>,
    /// Rows held (also before the first token).
    rows: usize,
}

impl<B: Backend> LlamaContinuations<'_, B> {
    /// Keeps `rows`, appends `tokens[i]` (all of one length) to kept row `i`, returns the
    /// next-token log-probabilities after the last new token of every row.
    fn extend_rows(
        &mut self,
        rows: &[usize],
        tokens: &[Vec<u32>],
    ) -> Result<Vec<Vec<f32>>, CoreError> {
        if rows.len() != tokens.len() {
            return Err(CoreError::ShapeMismatch {
                what: "continuation rows and tokens",
                expected: format!("{} tokens", rows.len()),
                got: format!("{}", tokens.len()),
            });
        }
        if let Some(&r) = rows.iter().find(|&&r| r >= self.rows) {
            return Err(CoreError::ShapeMismatch {
                what: "continuation row",
                expected: format!("an index below {}", self.rows),
                got: format!("{r}"),
            });
        }
        let n = tokens.first().map_or(0, Vec::len);
        if let Some(t) = tokens.iter().find(|t| t.len() != n) {
            return Err(CoreError::ShapeMismatch {
                what: "new tokens per continuation row",
                expected: format!("{n}"),
                got: format!("{}", t.len()),
            });
        }
        for t in tokens.iter().filter(|t| !t.is_empty()) {
            self.backbone.check_ids(t)?;
        }
        let held = self.cache.as_ref().map_or(0, LlamaKvCache::len);
        let max = self.backbone.max_len();
        if held + n > max {
            return Err(CoreError::TooLong { len: held + n, max });
        }
        let device = self.backbone.device();
        self.cache = self
            .cache
            .take()
            .map(|c| c.select(index_tensor(rows, device)));
        self.rows = rows.len();
        if rows.is_empty() || n == 0 {
            return Ok(vec![Vec::new(); rows.len()]);
        }
        let flat: Vec<i64> = tokens.iter().flatten().map(|&t| i64::from(t)).collect();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [rows.len(), n]), device);
        let (logits, cache) = self.backbone.model().forward_cached(ids, self.cache.take());
        self.cache = Some(cache);
        let [b, _, v] = logits.dims();
        let last = logits.narrow(1, n - 1, 1).reshape([b, v]);
        let values = log_softmax(last, 1)
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| CoreError::Backend(format!("reading log-probabilities: {e:?}").into()))?;
        if let Some(index) = values.iter().position(|x| !x.is_finite()) {
            return Err(CoreError::NonFinite {
                what: "next-token log-probabilities",
                index,
            });
        }
        Ok(values.chunks(v).map(<[f32]>::to_vec).collect())
    }
}

impl<B: Backend> Continuations for LlamaContinuations<'_, B> {
    fn vocab_size(&self) -> usize {
        self.backbone.vocab_size()
    }

    fn extend(&mut self, rows: &[usize], tokens: &[u32]) -> Result<Vec<Vec<f32>>, CoreError> {
        let tokens: Vec<Vec<u32>> = tokens.iter().map(|&t| vec![t]).collect();
        self.extend_rows(rows, &tokens)
    }
}

fn index_tensor<B: Backend>(values: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let v: Vec<i64> = values.iter().map(|&x| x as i64).collect();
    Tensor::from_data(TensorData::new(v, [values.len()]), device)
}
