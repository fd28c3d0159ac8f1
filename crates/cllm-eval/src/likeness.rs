//! Family likeness: how much a text reads like a family by its **content**, never its name.
//!
//! Counting decodes that contain the word "pizza" measures a name that CLLM1's decoder has
//! almost never seen (8 of its 7,332 training texts hold a pizza word, none in a title), so
//! the count stays near 0 whatever the code carries. The out-of-class novelty protocol of
//! Cherti, Kégl & Kazakçı (2017) scores generated objects with a classifier trained on
//! *every* class, the held-out one included; here that classifier is
//! [`FamilyLikeness`]: an L2-regularised logistic regression on the words a text holds
//! (binary presence of the lowercase alphanumeric tokens found in at least
//! [`LikenessOptions::min_docs`] texts), with every family's **name words masked out**
//! ([`cllm_corpus::family::name_words`]: pizza, calzone, soup, broth, …) so that it must
//! recognise a pizza by dough, mozzarella and oven, not by the word.
//!
//! It is used for evaluation only: it never touches CLLM1's or CLLM2's training. The
//! experiment reports its cross-validated AUROC on real texts (how well content alone
//! names the family; [`cross_validate`]) and the mean P(family) of every reading's and
//! sampler's decodes, beside the floor (decodes of validation codes) and the ceiling (the
//! family's real texts, scored out of fold).
//!
//! The classifier is [`crate::word_classifier`]'s (deterministic, folds seeded and
//! stratified by label).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::word_classifier::{self, text_features, ClassifierOptions, WordClassifier};

/// How the scorer is fitted: the word classifier's options (words only, no bigrams).
pub type LikenessOptions = ClassifierOptions;

/// The fitted scorer of one family.
#[derive(Debug, Clone)]
pub struct FamilyLikeness {
    family: String,
    classifier: WordClassifier,
}

/// What content alone says about a family on real texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidated {
    /// The family.
    pub family: String,
    /// Texts of the family.
    pub family_texts: usize,
    /// All texts.
    pub texts: usize,
    /// AUROC of the out-of-fold P(family), family texts against the rest.
    pub auroc: f64,
    /// Every text's out-of-fold P(family), in input order.
    #[serde(skip)]
    pub out_of_fold: Vec<f64>,
}

/// The lowercase alphanumeric tokens of `text` that are not in `masked`, without repeats.
pub fn content_words(text: &str, masked: &HashSet<String>) -> Vec<String> {
    text_features(text, masked, false)
}

/// Every family's name words, as the scorer masks them.
pub fn masked_names() -> HashSet<String> {
    cllm_corpus::family::name_words()
        .into_iter()
        .map(str::to_string)
        .collect()
}

impl FamilyLikeness {
    /// Fits the scorer of `family` on `texts` (`labels[i]`: whether text `i` is of the
    /// family), with `masked` words removed from every text.
    ///
    /// # Errors
    /// [`crate::EvalError::InvalidInput`] when `texts` and `labels` differ in length, when
    /// either class is empty, or when no word reaches `min_docs` texts.
    pub fn fit(
        family: &str,
        texts: &[&str],
        labels: &[bool],
        masked: &HashSet<String>,
        opts: &LikenessOptions,
    ) -> Result<Self> {
        Ok(Self {
            family: family.to_string(),
            classifier: WordClassifier::fit(texts, labels, masked, opts)?,
        })
    }

    /// The family scored.
    pub fn family(&self) -> &str {
        &self.family
    }

    /// Features (words) the scorer reads.
    pub fn features(&self) -> usize {
        self.classifier.features()
    }

    /// P(family | the text's unmasked words).
    pub fn probability(&self, text: &str) -> f64 {
        self.classifier.probability(text)
    }

    /// The weight of `word` (`None` when it is not a feature: too rare, or masked).
    pub fn weight_of(&self, word: &str) -> Option<f64> {
        self.classifier.weight_of(word)
    }
}

/// The out-of-fold P(family) of every text and their AUROC (see
/// [`word_classifier::cross_validate`]).
///
/// # Errors
/// As [`FamilyLikeness::fit`], and when a class has fewer texts than folds.
pub fn cross_validate(
    family: &str,
    texts: &[&str],
    labels: &[bool],
    masked: &HashSet<String>,
    opts: &LikenessOptions,
) -> Result<CrossValidated> {
    let cv = word_classifier::cross_validate(texts, labels, masked, opts)?;
    Ok(CrossValidated {
        family: family.to_string(),
        family_texts: cv.positives,
        texts: cv.texts,
        auroc: cv.auroc,
        out_of_fold: cv.out_of_fold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corpus where the family is told by content (dough, mozzarella) and also named.
    fn corpus() -> (Vec<String>, Vec<bool>) {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        for i in 0..60 {
            let fam = i % 4 == 0;
            let text = if fam {
                format!("Pizza number {i}\nIngredients: dough, mozzarella, tomato, basil {i}\nSteps: stretch the dough and bake the pizza")
            } else if i % 2 == 0 {
                format!("Stew {i}\nIngredients: beef, carrot, onion, tomato\nSteps: simmer for an hour")
            } else {
                format!("Salad {i}\nIngredients: lettuce, cucumber, oil, basil\nSteps: toss and serve")
            };
            texts.push(text);
            labels.push(fam);
        }
        (texts, labels)
    }

    #[test]
    fn content_names_the_family_without_its_name() {
        let (texts, labels) = corpus();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let masked = masked_names();
        let opts = LikenessOptions::default();
        let scorer = FamilyLikeness::fit("pizza", &refs, &labels, &masked, &opts).unwrap();
        // the planted name is never a feature, and never moves a score
        assert_eq!(scorer.weight_of("pizza"), None);
        assert!(scorer.weight_of("mozzarella").is_some_and(|w| w > 0.0));
        let plain = "Stew\nIngredients: beef, carrot\nSteps: simmer";
        let named = "Stew pizza calzone\nIngredients: beef, carrot, pizzas\nSteps: simmer pizza";
        assert_eq!(scorer.probability(plain), scorer.probability(named));
        // content does
        // content does: two pizza words against two stew words (the L2 penalty keeps single
        // words from deciding alone, hence no bound near 1)
        let pizza = scorer.probability("dough and mozzarella, baked");
        let stew = scorer.probability("beef and carrot, simmered");
        assert!(pizza > 0.5 && stew < 0.1, "{pizza} vs {stew}");
        let cv = cross_validate("pizza", &refs, &labels, &masked, &opts).unwrap();
        assert_eq!(cv.family_texts, 15);
        assert!(cv.auroc > 0.99, "{}", cv.auroc);
    }

    #[test]
    fn masking_removes_every_family_name() {
        let masked = masked_names();
        let words = content_words("Pizza Soup; tomato BROTH with Calzone-dough", &masked);
        assert_eq!(words, vec!["tomato", "with", "dough"]);
    }

    #[test]
    fn fitting_is_deterministic_and_bad_input_is_refused() {
        let (texts, labels) = corpus();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let masked = masked_names();
        let opts = LikenessOptions::default();
        let a = cross_validate("pizza", &refs, &labels, &masked, &opts).unwrap();
        let b = cross_validate("pizza", &refs, &labels, &masked, &opts).unwrap();
        assert_eq!(a.out_of_fold, b.out_of_fold);
        assert!(FamilyLikeness::fit("pizza", &refs, &labels[..3], &masked, &opts).is_err());
        assert!(FamilyLikeness::fit("pizza", &refs, &vec![false; 60], &masked, &opts).is_err());
        let few: Vec<bool> = (0..60).map(|i| i == 0).collect();
        assert!(cross_validate("pizza", &refs, &few, &masked, &opts).is_err());
    }
}
