//! [`LanguageModel`]: a causal language model that scores texts, the fluency judge of
//! generated texts.

use crate::error::CoreError;

/// A causal language model: the log-probability of every token of a sequence given the
/// tokens before it. The first token has no context and is not scored.
///
/// ```
/// use cllm_core::{perplexity, CoreError, LanguageModel};
///
/// /// Every token equally likely among 4.
/// struct Uniform;
/// impl LanguageModel for Uniform {
///     fn token_logprobs(&self, ids: &[u32]) -> Result<Vec<f32>, CoreError> {
///         Ok(vec![(0.25f32).ln(); ids.len().saturating_sub(1)])
///     }
/// }
/// assert!((perplexity(&Uniform, &[1, 2, 3]).unwrap() - 4.0).abs() < 1e-5);
/// assert!(perplexity(&Uniform, &[1]).is_err()); // nothing to score
/// ```
pub trait LanguageModel {
    /// `log p(ids[i] | ids[..i])` for `i = 1 .. ids.len()`.
    fn token_logprobs(&self, ids: &[u32]) -> Result<Vec<f32>, CoreError>;
}

/// `exp(−mean log p)` over the scored tokens of `ids`: the model's per-token perplexity.
/// An error for fewer than two tokens (nothing to score) or a non-finite score.
pub fn perplexity(lm: &dyn LanguageModel, ids: &[u32]) -> Result<f64, CoreError> {
    let lp = lm.token_logprobs(ids)?;
    if lp.is_empty() {
        return Err(CoreError::Empty {
            what: "tokens to score (a perplexity needs two or more)",
        });
    }
    let mean = lp.iter().map(|&v| f64::from(v)).sum::<f64>() / lp.len() as f64;
    let ppl = (-mean).exp();
    if !ppl.is_finite() {
        return Err(CoreError::NonFinite {
            what: "perplexity",
            index: 0,
        });
    }
    Ok(ppl)
}
