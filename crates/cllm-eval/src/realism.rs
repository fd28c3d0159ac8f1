//! Realism: can a classifier tell decodes from real texts?
//!
//! Perplexity rewards runs of numbers: broken fragments such as "M- 15000 g) ⏎ - 20 g
//! (15%) …" scored 1.1–1.5 times a real recipe's perplexity and were ranked first. The
//! classifier two-sample test (Lopez-Paz & Oquab 2017) asks instead whether a classifier
//! can tell the two samples apart: [`two_sample_test`] fits [`crate::word_classifier`]'s
//! logistic regression on words and word bigrams (a decode's "g) ⏎ -" runs and cut
//! sentences show up as bigrams no recipe has) to tell held-out real texts from decodes,
//! with cross-validation, and reports
//!
//! - its **AUROC** on held-out folds: 0.5 = the decodes cannot be told from real texts,
//!   1 = every decode is recognised;
//! - each decode's **realism**: its out-of-fold P(real), the probability that a classifier
//!   that never saw it takes it for a real text.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::word_classifier::{cross_validate, ClassifierOptions};

/// The classifier's settings for realism: words and bigrams, features held by at least 2
/// texts (the samples are small), 5 folds.
pub fn realism_options(seed: u64) -> ClassifierOptions {
    ClassifierOptions {
        min_docs: 2,
        bigrams: true,
        seed,
        ..ClassifierOptions::default()
    }
}

/// The result of a two-sample test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoSample {
    /// Decodes tested.
    pub generated: usize,
    /// Real texts they were tested against.
    pub real: usize,
    /// Cross-validated AUROC of P(real), real texts against decodes (0.5 = indistinguishable).
    pub auroc: f64,
    /// Every decode's out-of-fold P(real), in input order.
    pub realism: Vec<f64>,
}

/// Tests `generated` against `real` (each at least `opts.folds` texts).
///
/// # Errors
/// [`crate::EvalError::InvalidInput`] when a sample has fewer texts than folds or no word
/// occurs in `opts.min_docs` texts.
pub fn two_sample_test(
    real: &[&str],
    generated: &[&str],
    opts: &ClassifierOptions,
) -> Result<TwoSample> {
    let texts: Vec<&str> = real.iter().chain(generated).copied().collect();
    let labels: Vec<bool> = (0..texts.len()).map(|i| i < real.len()).collect();
    let cv = cross_validate(&texts, &labels, &HashSet::new(), opts)?;
    Ok(TwoSample {
        generated: generated.len(),
        real: real.len(),
        auroc: cv.auroc,
        realism: cv.out_of_fold[real.len()..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(i: usize) -> String {
        let dish = ["Tomato Soup", "Bean Salad", "Rye Bread", "Apple Cake"][i % 4];
        let herb = ["parsley", "dill", "basil"][i % 3];
        format!(
            "{dish}\nIngredients:\n- 2 cups water\n- 1 onion, chopped\n- {herb}\nSteps:\n1. Chop the onion.\n2. Simmer for {} minutes and serve.",
            [10, 20, 30, 45, 60][i % 5]
        )
    }

    #[test]
    fn fragments_are_told_apart_and_real_texts_are_not() {
        let real: Vec<String> = (0..30).map(recipe).collect();
        let broken: Vec<String> = (0..30)
            .map(|i| format!("M- {} g) - 20 g ({}%) - 15 g (25%) g) g)", 15000 + i, i))
            .collect();
        let more_real: Vec<String> = (30..60).map(recipe).collect();
        let r: Vec<&str> = real.iter().map(String::as_str).collect();
        let b: Vec<&str> = broken.iter().map(String::as_str).collect();
        let m: Vec<&str> = more_real.iter().map(String::as_str).collect();
        let opts = realism_options(0);
        let fragments = two_sample_test(&r, &b, &opts).unwrap();
        assert!(fragments.auroc > 0.95, "{}", fragments.auroc);
        assert!(fragments.realism.iter().all(|&p| p < 0.5));
        assert_eq!(fragments.realism.len(), 30);
        // two samples of the same kind of text: no better than chance, within the noise of
        // 30 + 30 texts (an AUROC's standard error is about 0.075 here)
        let same = two_sample_test(&r, &m, &opts).unwrap();
        assert!(same.auroc < 0.75, "{}", same.auroc);
        // too small a sample is refused by name
        assert!(two_sample_test(&r[..3], &b, &opts).is_err());
    }
}
