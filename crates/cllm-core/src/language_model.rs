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

    /// Starts `rows` continuations of `prefix` that are read one token at a time
    /// ([`Continuations::extend`]), each step costing one token rather than the whole
    /// prefix (a key/value cache). Returns them with the next-token log-probabilities after
    /// `prefix` (`None` for an empty prefix: the first token has no context).
    ///
    /// The default refuses ([`CoreError::Unsupported`]): a model that can only score whole
    /// sequences cannot guide decoding.
    fn continuations(
        &self,
        prefix: &[u32],
        rows: usize,
    ) -> Result<ContinuationsStart<'_>, CoreError> {
        let _ = (prefix, rows);
        Err(CoreError::Unsupported(
            "this language model scores whole sequences only (no incremental continuations)".into(),
        ))
    }
}

/// What [`LanguageModel::continuations`] returns: the continuations, and the next-token
/// log-probabilities of every row after the prefix (`None` for an empty prefix).
pub type ContinuationsStart<'a> = (Box<dyn Continuations + 'a>, Option<Vec<Vec<f32>>>);

/// A batch of texts being extended one token at a time under a [`LanguageModel`] (from
/// [`LanguageModel::continuations`]): the model's state of every row (its key/value cache),
/// reordered and extended in step with a search.
pub trait Continuations {
    /// The model's vocabulary size: the length of every row of log-probabilities.
    fn vocab_size(&self) -> usize;

    /// Keeps the rows `rows` (indices into the current rows, in this order; a row may be
    /// kept several times, as beam search does), appends `tokens[i]` to kept row `i`, and
    /// returns `log p(next token | row)` over the whole vocabulary for every kept row.
    ///
    /// Errors: `rows` and `tokens` of different lengths, a row index out of range, a token
    /// id outside the vocabulary, or a row longer than the model's context.
    fn extend(&mut self, rows: &[usize], tokens: &[u32]) -> Result<Vec<Vec<f32>>, CoreError>;
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
