//! A bag-of-words logistic regression: the one text classifier of the evaluation.
//!
//! A text's features are the lowercase alphanumeric tokens it holds (binary presence),
//! optionally with its word bigrams, less a set of **masked** words that the classifier
//! must never see; a word is a feature when at least [`ClassifierOptions::min_docs`]
//! training texts hold it. The model is an L2-regularised logistic regression on the
//! class-balanced mean log-loss, fitted by full-batch Adam for a fixed number of
//! iterations: the problem is convex and nothing is drawn at random, so the same texts give
//! the same weights. [`cross_validate`] gives out-of-fold probabilities on seeded folds
//! stratified by label.
//!
//! Two judges are built on it: the family-likeness scorer ([`crate::likeness`], every
//! family's name words masked) and the realism test ([`crate::realism`]: held-out corpus
//! texts against decodes, with bigrams).

use std::collections::{HashMap, HashSet};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::metrics::auroc;

/// How a classifier is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierOptions {
    /// A word is a feature when at least this many training texts hold it.
    pub min_docs: usize,
    /// L2 penalty on the weights (per unit of mean loss).
    pub l2: f64,
    /// Full-batch Adam iterations.
    pub iterations: usize,
    /// Adam's step size.
    pub learning_rate: f64,
    /// Folds of the cross-validation.
    pub folds: usize,
    /// Seed of the fold assignment.
    pub seed: u64,
    /// Word bigrams (`a_b`) as features beside the words.
    pub bigrams: bool,
}

impl Default for ClassifierOptions {
    fn default() -> Self {
        Self {
            min_docs: 3,
            l2: 1e-3,
            iterations: 300,
            learning_rate: 0.05,
            folds: 5,
            seed: 0,
            bigrams: false,
        }
    }
}

/// A fitted classifier.
#[derive(Debug, Clone)]
pub struct WordClassifier {
    masked: HashSet<String>,
    bigrams: bool,
    features: HashMap<String, usize>,
    weights: Vec<f64>,
    bias: f64,
}

/// Out-of-fold probabilities and their AUROC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidated {
    /// Texts of the positive class.
    pub positives: usize,
    /// All texts.
    pub texts: usize,
    /// AUROC of the out-of-fold probabilities, positives against negatives.
    pub auroc: f64,
    /// Every text's out-of-fold probability of the positive class, in input order.
    #[serde(skip)]
    pub out_of_fold: Vec<f64>,
}

/// The features of `text`: its lowercase alphanumeric tokens not in `masked`, and with
/// `bigrams` the pairs of consecutive unmasked tokens as `a_b`; without repeats, in order.
pub fn text_features(text: &str, masked: &HashSet<String>, bigrams: bool) -> Vec<String> {
    let tokens: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .filter(|t| !masked.contains(t))
        .collect();
    let pairs = bigrams
        .then(|| tokens.windows(2).map(|w| format!("{}_{}", w[0], w[1])))
        .into_iter()
        .flatten();
    let mut seen = HashSet::new();
    tokens
        .iter()
        .cloned()
        .chain(pairs)
        .filter(|t| seen.insert(t.clone()))
        .collect()
}

impl WordClassifier {
    /// Fits the classifier on `texts` (`labels[i]`: whether text `i` is a positive), with
    /// `masked` words removed from every text.
    ///
    /// # Errors
    /// [`EvalError::InvalidInput`] when `texts` and `labels` differ in length, when either
    /// class is empty, or when no word reaches `min_docs` texts.
    pub fn fit(
        texts: &[&str],
        labels: &[bool],
        masked: &HashSet<String>,
        opts: &ClassifierOptions,
    ) -> Result<Self> {
        check_labels(texts, labels)?;
        let words: Vec<Vec<String>> = texts
            .iter()
            .map(|t| text_features(t, masked, opts.bigrams))
            .collect();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for w in words.iter().flatten() {
            *counts.entry(w.as_str()).or_default() += 1;
        }
        let mut vocab: Vec<&str> = counts
            .iter()
            .filter(|(_, &c)| c >= opts.min_docs.max(1))
            .map(|(w, _)| *w)
            .collect();
        vocab.sort_unstable();
        if vocab.is_empty() {
            return Err(EvalError::InvalidInput(format!(
                "no word occurs in {} texts: nothing to classify by",
                opts.min_docs
            )));
        }
        let features: HashMap<String, usize> = vocab
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i))
            .collect();
        let rows: Vec<Vec<usize>> = words
            .iter()
            .map(|ws| ws.iter().filter_map(|w| features.get(w).copied()).collect())
            .collect();
        let (weights, bias) = fit_logistic(&rows, labels, features.len(), opts);
        Ok(Self {
            masked: masked.clone(),
            bigrams: opts.bigrams,
            features,
            weights,
            bias,
        })
    }

    /// Features the classifier reads.
    pub fn features(&self) -> usize {
        self.features.len()
    }

    /// P(positive | the text's unmasked features).
    pub fn probability(&self, text: &str) -> f64 {
        let idx: Vec<usize> = text_features(text, &self.masked, self.bigrams)
            .iter()
            .filter_map(|w| self.features.get(w).copied())
            .collect();
        sigmoid(margin(&idx, &self.weights, self.bias))
    }

    /// The weight of `word` (`None` when it is not a feature: too rare, or masked).
    pub fn weight_of(&self, word: &str) -> Option<f64> {
        self.features.get(word).map(|&i| self.weights[i])
    }
}

/// The out-of-fold probability of every text and their AUROC: each fold is scored by a
/// classifier fitted on the other folds (folds stratified by label, seeded).
///
/// # Errors
/// As [`WordClassifier::fit`], and when a class has fewer texts than folds.
pub fn cross_validate(
    texts: &[&str],
    labels: &[bool],
    masked: &HashSet<String>,
    opts: &ClassifierOptions,
) -> Result<CrossValidated> {
    check_labels(texts, labels)?;
    let folds = opts.folds.max(2);
    let mut fold_of = vec![0usize; texts.len()];
    for class in [true, false] {
        let mut members: Vec<usize> = (0..texts.len()).filter(|&i| labels[i] == class).collect();
        if members.len() < folds {
            return Err(EvalError::InvalidInput(format!(
                "{} {} texts: fewer than {folds} folds",
                members.len(),
                if class { "positive" } else { "negative" }
            )));
        }
        members.shuffle(&mut ChaCha8Rng::seed_from_u64(opts.seed ^ u64::from(class)));
        for (j, &i) in members.iter().enumerate() {
            fold_of[i] = j % folds;
        }
    }
    let mut out_of_fold = vec![0.0; texts.len()];
    for f in 0..folds {
        let (train, test): (Vec<usize>, Vec<usize>) =
            (0..texts.len()).partition(|&i| fold_of[i] != f);
        let t: Vec<&str> = train.iter().map(|&i| texts[i]).collect();
        let l: Vec<bool> = train.iter().map(|&i| labels[i]).collect();
        let model = WordClassifier::fit(&t, &l, masked, opts)?;
        for i in test {
            out_of_fold[i] = model.probability(texts[i]);
        }
    }
    let of = |class: bool| -> Vec<f64> {
        (0..texts.len())
            .filter(|&i| labels[i] == class)
            .map(|i| out_of_fold[i])
            .collect()
    };
    let (pos, neg) = (of(true), of(false));
    Ok(CrossValidated {
        positives: pos.len(),
        texts: texts.len(),
        auroc: auroc(&pos, &neg)?,
        out_of_fold,
    })
}

fn check_labels(texts: &[&str], labels: &[bool]) -> Result<()> {
    if texts.len() != labels.len() {
        return Err(EvalError::InvalidInput(format!(
            "{} labels for {} texts",
            labels.len(),
            texts.len()
        )));
    }
    if !labels.iter().any(|&l| l) || labels.iter().all(|&l| l) {
        return Err(EvalError::InvalidInput(
            "a classifier needs texts of both classes".into(),
        ));
    }
    Ok(())
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn margin(idx: &[usize], weights: &[f64], bias: f64) -> f64 {
    bias + idx.iter().map(|&i| weights[i]).sum::<f64>()
}

/// Full-batch Adam on `Σ_i c_i · logloss_i / n + l2/2 · |w|²`, `c_i` balancing the two
/// classes (each class weighs half). Rows hold the indices of the features present (value 1).
fn fit_logistic(
    rows: &[Vec<usize>],
    labels: &[bool],
    dim: usize,
    opts: &ClassifierOptions,
) -> (Vec<f64>, f64) {
    let n = rows.len() as f64;
    let positives = labels.iter().filter(|&&l| l).count() as f64;
    let class_weight = |l: bool| {
        if l {
            0.5 * n / positives
        } else {
            0.5 * n / (n - positives)
        }
    };
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let mut w = vec![0.0f64; dim + 1]; // the last entry is the bias
    let (mut m, mut v) = (vec![0.0f64; dim + 1], vec![0.0f64; dim + 1]);
    let mut grad = vec![0.0f64; dim + 1];
    for t in 1..=opts.iterations {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (row, &l) in rows.iter().zip(labels) {
            let p = sigmoid(margin(row, &w[..dim], w[dim]));
            let r = class_weight(l) * (p - f64::from(u8::from(l))) / n;
            for &i in row {
                grad[i] += r;
            }
            grad[dim] += r;
        }
        for (g, wi) in grad[..dim].iter_mut().zip(&w[..dim]) {
            *g += opts.l2 * wi;
        }
        let (c1, c2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
        for j in 0..=dim {
            m[j] = b1 * m[j] + (1.0 - b1) * grad[j];
            v[j] = b2 * v[j] + (1.0 - b2) * grad[j] * grad[j];
            w[j] -= opts.learning_rate * (m[j] / c1) / ((v[j] / c2).sqrt() + eps);
        }
    }
    let bias = w[dim];
    w.truncate(dim);
    (w, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gradient the fit descends, at a fixed point, against central finite differences
    /// of the objective in f64 (h = 1e-6 on weights of size ~0.1: the difference quotient
    /// is good to ~1e-9 of the gradient's scale).
    #[test]
    fn the_logistic_objective_and_its_minimum_are_right() {
        // separable data: feature 0 marks the positives, feature 1 is noise
        let rows: Vec<Vec<usize>> = (0..20)
            .map(|i| if i % 2 == 0 { vec![0, 1] } else if i % 3 == 0 { vec![1] } else { vec![] })
            .collect();
        let labels: Vec<bool> = (0..20).map(|i| i % 2 == 0).collect();
        let opts = ClassifierOptions {
            iterations: 2000,
            ..ClassifierOptions::default()
        };
        let (w, b) = fit_logistic(&rows, &labels, 2, &opts);
        // at the minimum the gradient of the objective vanishes
        let objective = |w: &[f64], b: f64| -> f64 {
            let n = rows.len() as f64;
            let pos = labels.iter().filter(|&&l| l).count() as f64;
            let mut loss = 0.0;
            for (r, &l) in rows.iter().zip(&labels) {
                let p = sigmoid(margin(r, w, b));
                let c = if l { 0.5 * n / pos } else { 0.5 * n / (n - pos) };
                loss -= c * if l { p.ln() } else { (1.0 - p).ln() } / n;
            }
            loss + 0.5 * opts.l2 * w.iter().map(|x| x * x).sum::<f64>()
        };
        let h = 1e-6;
        for j in 0..2 {
            let (mut up, mut down) = (w.clone(), w.clone());
            up[j] += h;
            down[j] -= h;
            let g = (objective(&up, b) - objective(&down, b)) / (2.0 * h);
            assert!(g.abs() < 1e-4, "gradient {j} at the fit: {g}");
        }
        let g = (objective(&w, b + h) - objective(&w, b - h)) / (2.0 * h);
        assert!(g.abs() < 1e-4, "bias gradient at the fit: {g}");
        assert!(w[0] > 1.0, "the marking feature gets a large weight: {w:?}");
    }

    #[test]
    fn features_mask_words_and_add_bigrams() {
        let masked: HashSet<String> = ["pizza".to_string()].into();
        assert_eq!(
            text_features("Pizza dough, dough rises", &masked, true),
            vec!["dough", "rises", "dough_dough", "dough_rises"]
        );
        assert_eq!(
            text_features("Pizza dough, dough rises", &masked, false),
            vec!["dough", "rises"]
        );
    }
}
