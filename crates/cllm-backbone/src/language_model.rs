//! SmolLM2 (any llama backbone) as a [`LanguageModel`]: per-token log-probabilities from
//! one forward pass of the full model, and [`Continuations`] read one token at a time
//! against a key/value cache (on the host on the CPU backends, [`HostLlama`]; as burn
//! tensors elsewhere, [`LlamaKvCache`]).

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use cllm_core::{Backbone, Continuations, ContinuationsStart, CoreError, LanguageModel};

use crate::backbone::LlamaBackbone;
use crate::llama::{HostKvCache, HostLlama, LlamaKvCache};

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
        let cache = match self.host_steps() {
            Some(host) => KvCache::Host(host, host.empty_cache(1)),
            None => KvCache::Generic(None),
        };
        let mut state = LlamaContinuations {
            backbone: self,
            cache,
            rows: 1,
        };
        if prefix.is_empty() {
            state.cache.select(&vec![0; rows], self.device());
            state.rows = rows;
            return Ok((Box::new(state), None));
        }
        // read the prefix once, then copy its cache to every row
        let v = state.extend_rows(&[0], &[prefix.to_vec()])?;
        let first = v.into_iter().next().unwrap_or_default();
        state.cache.select(&vec![0; rows], self.device());
        state.rows = rows;
        Ok((Box::new(state), Some(vec![first; rows])))
    }
}

/// The keys and values read so far: on the host ([`HostLlama::step`], the CPU backends) or
/// as burn tensors ([`Llama::forward_cached`](crate::llama::Llama::forward_cached), any
/// backend).
enum KvCache<'a, B: Backend> {
    Host(&'a HostLlama, HostKvCache),
    /// `None` until the first token is read.
    Generic(Option<LlamaKvCache<B>>),
}

impl<B: Backend> KvCache<'_, B> {
    fn len(&self) -> usize {
        match self {
            Self::Host(_, cache) => cache.len(),
            Self::Generic(cache) => cache.as_ref().map_or(0, LlamaKvCache::len),
        }
    }

    /// Keeps `rows` (indices checked by the caller).
    fn select(&mut self, rows: &[usize], device: &B::Device) {
        match self {
            Self::Host(_, cache) => cache.select(rows),
            Self::Generic(cache) => {
                *cache = cache.take().map(|c| c.select(index_tensor(rows, device)));
            }
        }
    }

    /// Reads `tokens` (`[rows, n]` row-major) after every row; the next-token logits after
    /// each row's last new token, `[rows · vocab]`.
    fn step(
        &mut self,
        backbone: &LlamaBackbone<B>,
        tokens: &[u32],
        rows: usize,
        n: usize,
    ) -> Result<Vec<f32>, CoreError> {
        match self {
            Self::Host(host, cache) => Ok(host.step(cache, tokens, n)),
            Self::Generic(cache) => {
                let device = backbone.device();
                let flat: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
                let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [rows, n]), device);
                let (logits, extended) = backbone.model().forward_cached(ids, cache.take());
                *cache = Some(extended);
                let [b, _, v] = logits.dims();
                logits
                    .narrow(1, n - 1, 1)
                    .reshape([b, v])
                    .into_data()
                    .convert::<f32>()
                    .to_vec::<f32>()
                    .map_err(|e| CoreError::Backend(format!("reading logits: {e:?}").into()))
            }
        }
    }
}

/// Texts extended one token at a time against a key/value cache.
struct LlamaContinuations<'a, B: Backend> {
    backbone: &'a LlamaBackbone<B>,
    cache: KvCache<'a, B>,
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
        let held = self.cache.len();
        let max = self.backbone.max_len();
        if held + n > max {
            return Err(CoreError::TooLong { len: held + n, max });
        }
        self.cache.select(rows, self.backbone.device());
        self.rows = rows.len();
        if rows.is_empty() || n == 0 {
            return Ok(vec![Vec::new(); rows.len()]);
        }
        let flat: Vec<u32> = tokens.iter().flatten().copied().collect();
        let mut logits = self.cache.step(self.backbone, &flat, rows.len(), n)?;
        let v = logits.len() / rows.len();
        for (r, row) in logits.chunks_exact_mut(v).enumerate() {
            log_softmax_in_place(row).ok_or(CoreError::NonFinite {
                what: "next-token log-probabilities",
                index: r * v,
            })?;
        }
        Ok(logits.chunks(v).map(<[f32]>::to_vec).collect())
    }
}

/// `row ← log_softmax(row)` (the normaliser summed in f64); `None` if a value is not finite.
fn log_softmax_in_place(row: &mut [f32]) -> Option<()> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() || row.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
    let log_norm = f64::from(max) + sum.ln();
    for v in row.iter_mut() {
        *v = (f64::from(*v) - log_norm) as f32;
    }
    Some(())
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
