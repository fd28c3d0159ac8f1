//! The nearest training text: what looking a text up in the training data, instead of
//! decoding its vector, would score.
//!
//! A decoder that turns a text's vector back into words can do no more than *retrieve*: say
//! the recipe the training data holds nearest to that vector. [`TrainingLookup`] measures
//! that baseline for the training report: the word F1 of the training text whose vector lies
//! nearest the text's, and the best word F1 that any of the reference training texts reaches
//! (the most a lookup could score, knowing the answer). A decoder below the first retrieves
//! worse than a table would; one above the second writes texts closer to the original than
//! anything it was trained on.

use std::collections::HashSet;

use crate::error::{AutoencoderError, Result};
use crate::text_metrics::word_set_f1;

/// Reference training texts: their token ids, text vectors and word sets.
#[derive(Debug, Clone)]
pub struct TrainingLookup {
    ids: Vec<Vec<u32>>,
    vectors: Vec<Vec<f32>>,
    words: Vec<HashSet<String>>,
}

/// The lookup baseline for one text, or the mean over many.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookupScores {
    /// Word F1 of the reference text whose vector is nearest (squared Euclidean distance).
    pub nearest_word_f1: f64,
    /// The best word F1 of any reference text.
    pub best_word_f1: f64,
}

impl TrainingLookup {
    /// Reference texts as token ids, with their vectors and word sets (in the same order).
    /// A typed error when the three lists differ in length or the vectors in width.
    pub fn new(
        ids: Vec<Vec<u32>>,
        vectors: Vec<Vec<f32>>,
        words: Vec<HashSet<String>>,
    ) -> Result<Self> {
        if ids.len() != vectors.len() || ids.len() != words.len() {
            return Err(AutoencoderError::InvalidConfig(format!(
                "lookup reference: {} texts, {} vectors, {} word sets",
                ids.len(),
                vectors.len(),
                words.len()
            )));
        }
        if let Some(first) = vectors.first() {
            if let Some(v) = vectors.iter().find(|v| v.len() != first.len()) {
                return Err(AutoencoderError::WrongWidth {
                    what: "lookup reference vector",
                    expected: first.len(),
                    got: v.len(),
                });
            }
        }
        Ok(Self {
            ids,
            vectors,
            words,
        })
    }

    /// Reference texts.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there is no reference text.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The baseline for one text: its token ids (a reference text with the same ids is left
    /// out, so that a training text is not looked up as itself), its vector and its words.
    /// `Ok(None)` when no reference text is left.
    pub fn score(
        &self,
        ids: &[u32],
        vector: &[f32],
        words: &HashSet<String>,
    ) -> Result<Option<LookupScores>> {
        if let Some(r) = self.vectors.first() {
            if r.len() != vector.len() {
                return Err(AutoencoderError::WrongWidth {
                    what: "looked-up text vector",
                    expected: r.len(),
                    got: vector.len(),
                });
            }
        }
        let mut nearest: Option<(f64, usize)> = None;
        let mut best = f64::NEG_INFINITY;
        for (i, (r, v)) in self.ids.iter().zip(&self.vectors).enumerate() {
            if r.as_slice() == ids {
                continue;
            }
            let d: f64 = v
                .iter()
                .zip(vector)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            if nearest.is_none_or(|(nd, _)| d < nd) {
                nearest = Some((d, i));
            }
            best = best.max(word_set_f1(&self.words[i], words));
        }
        Ok(nearest.map(|(_, i)| LookupScores {
            nearest_word_f1: word_set_f1(&self.words[i], words),
            best_word_f1: best,
        }))
    }

    /// The mean baseline over texts (ids, vectors and word sets in the same order); `Ok(None)`
    /// when no text could be scored.
    pub fn mean_scores(
        &self,
        ids: &[Vec<u32>],
        vectors: &[Vec<f32>],
        words: &[HashSet<String>],
    ) -> Result<Option<LookupScores>> {
        let (mut nearest, mut best, mut n) = (0.0, 0.0, 0usize);
        for ((t, v), w) in ids.iter().zip(vectors).zip(words) {
            if let Some(s) = self.score(t, v, w)? {
                nearest += s.nearest_word_f1;
                best += s.best_word_f1;
                n += 1;
            }
        }
        Ok((n > 0).then(|| LookupScores {
            nearest_word_f1: nearest / n as f64,
            best_word_f1: best / n as f64,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_metrics::word_set;

    fn reference() -> TrainingLookup {
        let texts = [
            "tomato soup with basil",
            "pizza dough",
            "tomato pizza with basil",
        ];
        TrainingLookup::new(
            vec![vec![1], vec![2], vec![3]],
            vec![vec![0.0, 0.0], vec![1.0, 0.0], vec![5.0, 5.0]],
            texts.iter().map(|t| word_set(t)).collect(),
        )
        .unwrap()
    }

    #[test]
    fn the_nearest_vector_is_looked_up_and_the_best_text_found() {
        let words = word_set("tomato pizza");
        // nearest vector: "pizza dough" (F1 2·1/4 = 0.5); best text: "tomato pizza with basil"
        // (F1 2·2/6 = 2/3)
        let s = reference()
            .score(&[9], &[0.9, 0.1], &words)
            .unwrap()
            .unwrap();
        assert_eq!(s.nearest_word_f1, 0.5);
        assert!((s.best_word_f1 - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_text_is_not_looked_up_as_itself() {
        let words = word_set("pizza dough");
        let s = reference()
            .score(&[2], &[1.0, 0.0], &words)
            .unwrap()
            .unwrap();
        // without itself, the nearest is "tomato soup with basil" (no word in common), and
        // the best is "tomato pizza with basil" (2·1/6)
        assert_eq!(s.nearest_word_f1, 0.0);
        assert!((s.best_word_f1 - 1.0 / 3.0).abs() < 1e-12);
        let only_itself =
            TrainingLookup::new(vec![vec![2]], vec![vec![1.0, 0.0]], vec![words.clone()]).unwrap();
        assert_eq!(only_itself.score(&[2], &[1.0, 0.0], &words).unwrap(), None);
    }

    #[test]
    fn means_over_texts_and_bad_input_is_a_typed_error() {
        let r = reference();
        let m = r
            .mean_scores(
                &[vec![9], vec![8]],
                &[vec![0.9, 0.1], vec![5.0, 4.0]],
                &[
                    word_set("tomato pizza"),
                    word_set("tomato pizza with basil"),
                ],
            )
            .unwrap()
            .unwrap();
        // second text: nearest and best are its exact copy (F1 1)
        assert!((m.nearest_word_f1 - 0.75).abs() < 1e-12);
        assert!((m.best_word_f1 - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert!(matches!(
            r.score(&[9], &[0.0, 0.0, 0.0], &word_set("x")),
            Err(AutoencoderError::WrongWidth { .. })
        ));
        assert!(TrainingLookup::new(vec![vec![1]], vec![], vec![]).is_err());
        assert!(matches!(
            TrainingLookup::new(
                vec![vec![1], vec![2]],
                vec![vec![0.0], vec![0.0, 1.0]],
                vec![HashSet::new(), HashSet::new()]
            ),
            Err(AutoencoderError::WrongWidth { .. })
        ));
    }
}
