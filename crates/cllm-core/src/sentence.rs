//! [`SentenceEncoder`]: whole texts to fixed-width vectors.

use crate::CoreError;

/// A model that maps each text to one fixed-width vector (a sentence embedding), e.g.
/// all-MiniLM-L6-v2, or a language model's hidden states mean-pooled at some layer.
///
/// Implementations return one vector of [`dim`](SentenceEncoder::dim) floats per input
/// text, in input order; an empty input list gives an empty output. Whether vectors are
/// normalised and how texts longer than the model's context are handled (truncated or
/// rejected) is documented by each implementation.
///
/// ```
/// use cllm_core::{CoreError, SentenceEncoder};
///
/// /// Counts letters and digits, L2-normalised.
/// struct CharCounts;
///
/// impl SentenceEncoder for CharCounts {
///     fn dim(&self) -> usize {
///         2
///     }
///     fn encode_sentences(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, CoreError> {
///         Ok(texts
///             .iter()
///             .map(|t| {
///                 let v = [
///                     t.chars().filter(|c| c.is_alphabetic()).count() as f32,
///                     t.chars().filter(|c| c.is_numeric()).count() as f32,
///                 ];
///                 let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
///                 v.iter().map(|x| x / n).collect()
///             })
///             .collect())
///     }
/// }
///
/// let enc = CharCounts;
/// let v = enc.encode_sentences(&["abc", "123"])?;
/// assert_eq!(v, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
/// assert!(enc.encode_sentences(&[])?.is_empty());
/// # Ok::<(), CoreError>(())
/// ```
pub trait SentenceEncoder {
    /// Width of every vector returned by [`encode_sentences`](SentenceEncoder::encode_sentences).
    fn dim(&self) -> usize;

    /// One vector of [`dim`](SentenceEncoder::dim) floats per text, in input order.
    fn encode_sentences(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, CoreError>;
}
