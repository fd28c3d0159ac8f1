//! Checked summary statistics of the experiment: the AUROC of a score between two groups,
//! rates of yes/no outcomes, and percentile-bootstrap 95% intervals around both.
//!
//! Every function validates its input (no empty group, no NaN or infinite score) and
//! returns [`EvalError::InvalidInput`] naming the problem instead of a NaN. The bootstraps
//! draw from their own [`ChaCha8Rng`] seeded by the caller, so the same input and seed give
//! the same interval on every machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};

/// The coverage of the intervals computed here: 95%.
pub const INTERVAL_LEVEL: f64 = 0.95;

/// An estimate with a percentile-bootstrap interval around it.
///
/// The percentile interval is the central [`level`](Self::level) share of the resampled
/// estimates. It usually contains [`estimate`](Self::estimate), but need not on very small
/// or skewed samples; nothing here forces it to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The statistic on the observed data.
    pub estimate: f64,
    /// The lower end of the interval (the `(1 - level) / 2` quantile of the resamples).
    pub low: f64,
    /// The upper end of the interval (the `(1 + level) / 2` quantile of the resamples).
    pub high: f64,
    /// The coverage the interval aims at (0.95).
    pub level: f64,
    /// How many bootstrap resamples it was computed from.
    pub resamples: usize,
}

impl Interval {
    /// `high - low`.
    pub fn width(&self) -> f64 {
        self.high - self.low
    }
}

/// The area under the ROC curve of a score that should be higher for `positives` than for
/// `negatives`: the probability that a random positive scores above a random negative,
/// ties counting one half (the Mann–Whitney U statistic with average ranks over ties,
/// divided by `positives.len() * negatives.len()`).
///
/// 1 is perfect separation, 0.5 is chance (or all scores equal), 0 is perfectly reversed.
///
/// # Errors
/// [`EvalError::InvalidInput`] when either group is empty or a score is NaN or infinite.
pub fn auroc(positives: &[f64], negatives: &[f64]) -> Result<f64> {
    check_scores("positive", positives)?;
    check_scores("negative", negatives)?;
    Ok(cllm_autoencoder::eval::auroc(positives, negatives))
}

/// [`auroc`] with a stratified percentile-bootstrap 95% interval: each of the `resamples`
/// draws resamples the positives and the negatives separately, with replacement, keeping
/// both group sizes, and recomputes the AUROC.
///
/// # Errors
/// [`EvalError::InvalidInput`] when a group is empty, a score is not finite, or
/// `resamples` is 0.
pub fn bootstrap_auroc(
    positives: &[f64],
    negatives: &[f64],
    resamples: usize,
    seed: u64,
) -> Result<Interval> {
    let estimate = auroc(positives, negatives)?;
    check_resamples(resamples)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pos = vec![0.0; positives.len()];
    let mut neg = vec![0.0; negatives.len()];
    let stats = (0..resamples)
        .map(|_| {
            resample_into(positives, &mut pos, &mut rng);
            resample_into(negatives, &mut neg, &mut rng);
            cllm_autoencoder::eval::auroc(&pos, &neg)
        })
        .collect();
    Ok(percentile_interval(estimate, stats))
}

/// The mean of `values` with a percentile-bootstrap 95% interval (each of the `resamples`
/// draws resamples `values` with replacement). For a rate, pass 1.0 for yes and 0.0 for
/// no (see [`bootstrap_rate`]).
///
/// # Errors
/// [`EvalError::InvalidInput`] when `values` is empty, a value is not finite, or
/// `resamples` is 0.
pub fn bootstrap_mean(values: &[f64], resamples: usize, seed: u64) -> Result<Interval> {
    check_scores("value", values)?;
    check_resamples(resamples)?;
    let estimate = mean(values);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut drawn = vec![0.0; values.len()];
    let stats = (0..resamples)
        .map(|_| {
            resample_into(values, &mut drawn, &mut rng);
            mean(&drawn)
        })
        .collect();
    Ok(percentile_interval(estimate, stats))
}

/// The share of `true` in `flags` (a zone-membership rate, the share of decodes that read
/// as the family).
///
/// # Errors
/// [`EvalError::InvalidInput`] when `flags` is empty.
pub fn rate(flags: &[bool]) -> Result<f64> {
    if flags.is_empty() {
        return Err(EvalError::InvalidInput(
            "a rate of no outcomes is undefined (the list of flags is empty)".into(),
        ));
    }
    Ok(flags.iter().filter(|&&f| f).count() as f64 / flags.len() as f64)
}

/// [`rate`] with a percentile-bootstrap 95% interval ([`bootstrap_mean`] of the flags as
/// 1.0 / 0.0).
///
/// # Errors
/// [`EvalError::InvalidInput`] when `flags` is empty or `resamples` is 0.
pub fn bootstrap_rate(flags: &[bool], resamples: usize, seed: u64) -> Result<Interval> {
    rate(flags)?;
    let values: Vec<f64> = flags.iter().map(|&f| f64::from(u8::from(f))).collect();
    bootstrap_mean(&values, resamples, seed)
}

fn check_scores(group: &str, scores: &[f64]) -> Result<()> {
    if scores.is_empty() {
        return Err(EvalError::InvalidInput(format!(
            "the {group} group is empty (a statistic needs at least one {group} score)"
        )));
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(EvalError::InvalidInput(format!(
            "{group} score {i} is {} (scores must be finite)",
            scores[i]
        )));
    }
    Ok(())
}

fn check_resamples(resamples: usize) -> Result<()> {
    if resamples == 0 {
        return Err(EvalError::InvalidInput(
            "a bootstrap needs at least one resample (resamples = 0)".into(),
        ));
    }
    Ok(())
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Fills `out` (as long as `from`) with draws from `from`, with replacement.
fn resample_into(from: &[f64], out: &mut [f64], rng: &mut ChaCha8Rng) {
    for slot in out.iter_mut() {
        *slot = from[rng.random_range(0..from.len())];
    }
}

/// The central [`INTERVAL_LEVEL`] share of `stats` (non-empty, finite), by linearly
/// interpolated quantiles.
fn percentile_interval(estimate: f64, mut stats: Vec<f64>) -> Interval {
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - INTERVAL_LEVEL) / 2.0;
    Interval {
        estimate,
        low: quantile(&stats, tail),
        high: quantile(&stats, 1.0 - tail),
        level: INTERVAL_LEVEL,
        resamples: stats.len(),
    }
}

/// The `q` quantile of sorted, non-empty `sorted`, interpolating between order statistics
/// (position `q * (n - 1)`).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let below = pos.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let frac = pos - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_of_separated_reversed_and_tied_groups() {
        assert_eq!(auroc(&[3.0, 4.0], &[1.0, 2.0]).unwrap(), 1.0);
        assert_eq!(auroc(&[1.0, 2.0], &[3.0, 4.0]).unwrap(), 0.0);
        assert_eq!(auroc(&[5.0, 5.0, 5.0], &[5.0, 5.0]).unwrap(), 0.5);
    }

    #[test]
    fn auroc_with_ties_matches_the_hand_count() {
        // positives {1, 2, 2}, negatives {2, 3}. Pairs (p, n), 1 for p > n, 1/2 for p = n:
        // p=1: vs 2 → 0, vs 3 → 0;  p=2: vs 2 → 1/2, vs 3 → 0;  p=2: same → 1/2.
        // Sum 1 over 3 * 2 = 6 pairs: AUROC = 1/6.
        // By ranks: sorted 1 | 2 2 2 | 3 → ranks 1 | 3 3 3 | 5; positive rank sum
        // 1 + 3 + 3 = 7; U = 7 - 3*4/2 = 1; 1 / 6.
        let a = auroc(&[1.0, 2.0, 2.0], &[2.0, 3.0]).unwrap();
        assert!((a - 1.0 / 6.0).abs() < 1e-15, "{a}");
    }

    #[test]
    fn auroc_refuses_empty_groups_and_non_finite_scores() {
        for (p, n, needle) in [
            (vec![], vec![1.0], "positive group is empty"),
            (vec![1.0], vec![], "negative group is empty"),
            (vec![1.0, f64::NAN], vec![0.0], "positive score 1 is NaN"),
            (vec![1.0], vec![f64::INFINITY], "negative score 0 is inf"),
        ] {
            let err = auroc(&p, &n).unwrap_err().to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn bootstrap_is_seeded_and_its_interval_holds_the_estimate() {
        let pos: Vec<f64> = (0..26).map(|i| (i as f64 * 0.37).sin() + 0.5).collect();
        let neg: Vec<f64> = (0..80).map(|i| (i as f64 * 0.53).cos()).collect();
        let a = bootstrap_auroc(&pos, &neg, 500, 7).unwrap();
        assert_eq!(a, bootstrap_auroc(&pos, &neg, 500, 7).unwrap());
        assert_ne!(a, bootstrap_auroc(&pos, &neg, 500, 8).unwrap());
        assert_eq!(a.estimate, auroc(&pos, &neg).unwrap());
        assert!(a.low < a.estimate && a.estimate < a.high, "{a:?}");
        assert!(a.width() > 0.0 && a.high <= 1.0 && a.low >= 0.0);
        assert_eq!((a.level, a.resamples), (0.95, 500));
    }

    #[test]
    fn bootstrap_of_constant_data_has_zero_width() {
        let a = bootstrap_auroc(&[2.0; 5], &[2.0; 7], 200, 1).unwrap();
        assert_eq!((a.estimate, a.low, a.high), (0.5, 0.5, 0.5));
        let m = bootstrap_mean(&[0.25; 9], 200, 1).unwrap();
        assert_eq!((m.estimate, m.low, m.high), (0.25, 0.25, 0.25));
    }

    #[test]
    fn better_separated_groups_have_a_higher_lower_bound() {
        let neg: Vec<f64> = (0..40).map(|i| (i as f64 * 0.71).sin()).collect();
        let shifted =
            |d: f64| -> Vec<f64> { (0..20).map(|i| (i as f64 * 0.29).cos() * 0.8 + d).collect() };
        let weak = bootstrap_auroc(&shifted(0.2), &neg, 1000, 3).unwrap();
        let strong = bootstrap_auroc(&shifted(0.9), &neg, 1000, 3).unwrap();
        assert!(strong.estimate > weak.estimate, "{weak:?} {strong:?}");
        assert!(strong.low > weak.low, "{weak:?} {strong:?}");
    }

    #[test]
    fn rates_and_their_intervals() {
        let flags = [true, false, false, true, false, false, false, false];
        assert_eq!(rate(&flags).unwrap(), 0.25);
        let r = bootstrap_rate(&flags, 400, 5).unwrap();
        assert_eq!(r.estimate, 0.25);
        assert!(r.low <= 0.25 && 0.25 <= r.high && r.width() > 0.0, "{r:?}");
        assert!(r.low >= 0.0 && r.high <= 1.0);
        assert!(rate(&[]).is_err());
        assert!(bootstrap_rate(&[], 10, 0).is_err());
        assert!(bootstrap_mean(&[1.0], 0, 0)
            .unwrap_err()
            .to_string()
            .contains("resamples = 0"));
        assert!(bootstrap_mean(&[1.0, f64::NAN], 10, 0).is_err());
    }

    #[test]
    fn quantiles_interpolate_between_order_statistics() {
        let s = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&s, 0.0), 0.0);
        assert_eq!(quantile(&s, 1.0), 4.0);
        assert_eq!(quantile(&s, 0.5), 2.0);
        assert!((quantile(&s, 0.025) - 0.1).abs() < 1e-12);
        assert_eq!(quantile(&[3.0], 0.975), 3.0);
    }
}
