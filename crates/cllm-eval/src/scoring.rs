//! Scores of a generated text: fluency (the backbone's perplexity, and its ratio to the
//! median real text's), novelty (word overlap with the nearest corpus text, latent
//! distance to the nearest corpus vector), a duplicate flag, repeated trigrams, and the
//! family the text reads as; and the usefulness rank built from them.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use cllm_autoencoder::text_metrics::{repeated_trigram_rate, words};
use cllm_void::PointSet;

use crate::error::{EvalError, Result};

/// A text is fluent when its perplexity is at most this multiple of the median real
/// text's.
pub const FLUENT_RATIO: f64 = 1.5;
/// A text is new when its word F1 with the nearest corpus text is below this.
pub const NEW_F1: f64 = 0.8;
/// A text is a duplicate when its word F1 with a corpus text reaches this (or it equals
/// one).
pub const DUPLICATE_F1: f64 = 0.95;

/// The corpus a generated text is compared with: texts (ids, word sets) and the vectors
/// of some of them.
#[derive(Debug, Clone)]
pub struct ReferenceCorpus {
    ids: Vec<String>,
    texts: Vec<String>,
    word_sets: Vec<HashSet<String>>,
    vectors: Option<PointSet>,
}

impl ReferenceCorpus {
    /// A reference corpus of `(id, text)` pairs.
    pub fn new(texts: Vec<(String, String)>) -> Result<Self> {
        if texts.is_empty() {
            return Err(EvalError::InvalidInput(
                "the reference corpus is empty".into(),
            ));
        }
        let word_sets = texts
            .iter()
            .map(|(_, t)| words(t).into_iter().collect())
            .collect();
        let (ids, texts) = texts.into_iter().unzip();
        Ok(Self {
            ids,
            texts,
            word_sets,
            vectors: None,
        })
    }

    /// Adds the text vectors of (some) corpus texts, for the latent distance.
    pub fn with_vectors(mut self, vectors: PointSet) -> Self {
        self.vectors = Some(vectors);
        self
    }

    /// The vectors, if any.
    pub fn vectors(&self) -> Option<&PointSet> {
        self.vectors.as_ref()
    }

    /// The nearest corpus text by word F1: its id and the F1.
    pub fn nearest_text(&self, text: &str) -> (String, f64) {
        let w: HashSet<String> = words(text).into_iter().collect();
        let mut best = (0usize, -1.0f64);
        for (i, s) in self.word_sets.iter().enumerate() {
            let f1 = if w.is_empty() && s.is_empty() {
                1.0
            } else {
                2.0 * w.intersection(s).count() as f64 / (w.len() + s.len()) as f64
            };
            if f1 > best.1 {
                best = (i, f1);
            }
        }
        (self.ids[best.0].clone(), best.1.max(0.0))
    }

    /// Whether `text` equals a corpus text (after trimming).
    pub fn contains(&self, text: &str) -> bool {
        let t = text.trim();
        self.texts.iter().any(|s| s.trim() == t)
    }

    /// Euclidean distance from `v` to the nearest corpus vector (`None` without vectors).
    pub fn latent_distance(&self, v: &[f32]) -> Option<f64> {
        let p = self.vectors.as_ref()?;
        p.rows()
            .map(|r| {
                r.iter()
                    .zip(v)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum::<f64>()
            })
            .min_by(f64::total_cmp)
            .map(f64::sqrt)
    }
}

/// The scores of one text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextScores {
    /// Words in the text.
    pub words: usize,
    /// The backbone's per-token perplexity (`None` for texts of fewer than two tokens).
    pub perplexity: Option<f64>,
    /// `perplexity` over the median real text's.
    pub perplexity_ratio: Option<f64>,
    /// The nearest corpus text by word F1.
    pub nearest_id: String,
    /// Its word F1 with this text.
    pub nearest_word_f1: f64,
    /// Distance to the nearest corpus vector in the CLLM's space.
    pub latent_distance: Option<f64>,
    /// Equal to a corpus text, or word F1 ≥ [`DUPLICATE_F1`] with one.
    pub duplicate: bool,
    /// Share of repeated word trigrams.
    pub repeated_trigrams: f64,
    /// The family the text reads as (the corpus's family rule on its first line).
    pub family: Option<String>,
    /// P(real) by the realism test ([`crate::realism`]): the probability that a classifier
    /// trained to tell real texts from the other decodes takes this one for real. `None`
    /// where it was not measured.
    #[serde(default)]
    pub realism: Option<f64>,
}

impl TextScores {
    /// Scores `text` (with the vector it came from) against `reference`; `perplexity`
    /// and the median real perplexity come from the caller's language model.
    pub fn new(
        text: &str,
        vector: &[f32],
        perplexity: Option<f64>,
        median_real_perplexity: Option<f64>,
        reference: &ReferenceCorpus,
        family: Option<String>,
    ) -> Self {
        let (nearest_id, nearest_word_f1) = reference.nearest_text(text);
        Self {
            words: words(text).len(),
            perplexity,
            perplexity_ratio: perplexity.zip(median_real_perplexity).map(|(p, m)| p / m),
            duplicate: nearest_word_f1 >= DUPLICATE_F1 || reference.contains(text),
            nearest_id,
            nearest_word_f1,
            latent_distance: reference.latent_distance(vector),
            repeated_trigrams: repeated_trigram_rate(text),
            family,
            realism: None,
        }
    }

    /// Fluent: perplexity at most [`FLUENT_RATIO`] × the median real text's, and at most
    /// 10% repeated trigrams.
    pub fn fluent(&self) -> bool {
        self.perplexity_ratio.is_some_and(|r| r <= FLUENT_RATIO) && self.repeated_trigrams <= 0.1
    }

    /// New: not a duplicate, word F1 with the nearest corpus text below [`NEW_F1`], and
    /// at least 5 words.
    pub fn new_text(&self) -> bool {
        !self.duplicate && self.nearest_word_f1 < NEW_F1 && self.words >= 5
    }
}

/// Orders texts by usefulness: fluent and new texts first, then fluent ones, then the
/// rest; inside each group the most realistic first (realism in steps of 0.1, so that
/// the classifier's noise does not override novelty; unmeasured counts as 0.5), then the
/// newest (lowest nearest word F1), ties by lower perplexity ratio, then by input order.
/// Returns the indices in rank order.
///
/// ```
/// use cllm_eval::scoring::{usefulness_order, TextScores};
/// let s = |f1: f64, ratio: f64, realism: f64| TextScores {
///     words: 20, perplexity: Some(ratio * 10.0), perplexity_ratio: Some(ratio),
///     nearest_id: "x".into(), nearest_word_f1: f1, latent_distance: None,
///     duplicate: f1 >= 0.95, repeated_trigrams: 0.0, family: None, realism: Some(realism),
/// };
/// // fluent+new (0.5, 1.2) before fluent duplicate (0.99, 1.0) before disfluent (0.3, 3.0)
/// assert_eq!(
///     usefulness_order(&[s(0.3, 3.0, 0.5), s(0.99, 1.0, 0.5), s(0.5, 1.2, 0.5)]),
///     vec![2, 1, 0]
/// );
/// // two fluent new texts: the realistic one first, though it is less new
/// assert_eq!(usefulness_order(&[s(0.3, 1.0, 0.05), s(0.5, 1.0, 0.6)]), vec![1, 0]);
/// ```
pub fn usefulness_order(scores: &[TextScores]) -> Vec<usize> {
    let group = |s: &TextScores| match (s.fluent(), s.new_text()) {
        (true, true) => 0,
        (true, false) => 1,
        _ => 2,
    };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (&scores[a], &scores[b]);
        let realism = |s: &TextScores| (s.realism.unwrap_or(0.5) * 10.0).floor() as i64;
        group(sa)
            .cmp(&group(sb))
            .then(realism(sb).cmp(&realism(sa)))
            .then(sa.nearest_word_f1.total_cmp(&sb.nearest_word_f1))
            .then(
                sa.perplexity_ratio
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&sb.perplexity_ratio.unwrap_or(f64::INFINITY)),
            )
            .then(a.cmp(&b))
    });
    order
}

/// The median of finite values (`None` when there are none).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_text_and_duplicates() {
        let r = ReferenceCorpus::new(vec![
            ("a".into(), "tomato soup with basil".into()),
            ("b".into(), "pizza dough with yeast".into()),
        ])
        .unwrap();
        let (id, f1) = r.nearest_text("Pizza with cheese");
        assert_eq!(id, "b");
        assert!((f1 - 2.0 * 2.0 / 7.0).abs() < 1e-12);
        let s = TextScores::new(
            "tomato soup with basil",
            &[0.0],
            Some(5.0),
            Some(4.0),
            &r,
            None,
        );
        assert!(s.duplicate);
        assert_eq!(s.perplexity_ratio, Some(1.25));
        assert!(ReferenceCorpus::new(vec![]).is_err());
        assert_eq!(median(&[3.0, 1.0, f64::NAN, 2.0]), Some(2.0));
    }
}
