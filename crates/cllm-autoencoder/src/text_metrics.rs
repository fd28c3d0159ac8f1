//! Scores of decoded texts against their originals and on their own: word F1 (the CPU
//! prototype's content measure), repeated word trigrams (fluency's first symptom) and
//! position-wise token accuracy of a free-running decode.

use std::collections::HashSet;

/// The lower-case words (`[a-z]+` runs) of a text.
///
/// ```
/// assert_eq!(cllm_autoencoder::text_metrics::words("Add 2 Eggs, then egg-wash."),
///            vec!["add", "eggs", "then", "egg", "wash"]);
/// ```
pub fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_lowercase())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// F1 of the *sets* of lower-case words of `decoded` and `original`:
/// `2·|A∩B| / (|A|+|B|)`; 1 when both are empty. Two random recipes of the corpus score
/// about 0.29 (the floor to read it against; `docs/results.md`).
///
/// ```
/// use cllm_autoencoder::text_metrics::word_f1;
/// assert_eq!(word_f1("tomato soup", "Tomato Soup!"), 1.0);
/// assert_eq!(word_f1("tomato soup", "pizza dough"), 0.0);
/// assert!((word_f1("tomato soup", "tomato pizza") - 0.5).abs() < 1e-12);
/// ```
pub fn word_f1(decoded: &str, original: &str) -> f64 {
    word_set_f1(&word_set(decoded), &word_set(original))
}

/// The set of a text's lower-case words ([`words`]), for scoring one text against many.
pub fn word_set(text: &str) -> HashSet<String> {
    words(text).into_iter().collect()
}

/// [`word_f1`] of two word sets: `2·|A∩B| / (|A|+|B|)`, 1 when both are empty.
pub fn word_set_f1(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let common = small.iter().filter(|w| large.contains(*w)).count();
    2.0 * common as f64 / (a.len() + b.len()) as f64
}

/// Fraction of a text's word trigrams that repeat an earlier one (0 for fewer than three
/// words). Real recipes: about 2%; plain greedy decodes of the CPU prototype: about 50%.
///
/// ```
/// use cllm_autoencoder::text_metrics::repeated_trigram_rate;
/// assert_eq!(repeated_trigram_rate("a b c a b c"), 0.25); // "a b c" again, of 4 trigrams
/// assert_eq!(repeated_trigram_rate("one two"), 0.0);
/// ```
pub fn repeated_trigram_rate(text: &str) -> f64 {
    let w = words(text);
    if w.len() < 3 {
        return 0.0;
    }
    let trigrams: Vec<&[String]> = w.windows(3).collect();
    let distinct: HashSet<&[String]> = trigrams.iter().copied().collect();
    1.0 - distinct.len() as f64 / trigrams.len() as f64
}

/// Share of the original's tokens that a free-running decode has at the same position
/// (the decode may be shorter or longer; its extra tokens do not count).
///
/// ```
/// use cllm_autoencoder::text_metrics::positional_accuracy;
/// assert_eq!(positional_accuracy(&[1, 2, 9], &[1, 2, 3, 4]), 0.5);
/// ```
pub fn positional_accuracy<T: PartialEq>(decoded: &[T], original: &[T]) -> f64 {
    if original.is_empty() {
        return f64::from(u8::from(decoded.is_empty()));
    }
    let ok = decoded.iter().zip(original).filter(|(a, b)| a == b).count();
    ok as f64 / original.len() as f64
}
