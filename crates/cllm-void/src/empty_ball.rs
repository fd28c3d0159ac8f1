//! Empty-ball search: VoidFinder-style Monte-Carlo max-min search with hill climbing.
//!
//! 1. **Seed** `candidates` centres on chords of the data: `x_a + t (x_b - x_a)` for random
//!    data points `a`, `b` and `t ~ U(0, 1)` (always inside the data's convex hull).
//! 2. **Screen**: each seed's empty radius is its distance to the nearest data point; the
//!    `climbers` seeds with the largest radius (inside the envelope) are kept.
//! 3. **Hill-climb** each kept centre to maximise its distance to the nearest data point:
//!    the ascent direction is the minimum-norm element of the convex hull of the unit vectors
//!    pointing away from the (near-)touching points; a step is accepted only if the radius
//!    grows and the new centre stays inside the data's envelope, so a radius never shrinks.
//! 4. **Keep balls inside the support**: the result of a climb is the last centre on its path
//!    whose `support_k` nearest data points surround it ([imbalance](crate::imbalance) ≤
//!    `max_imbalance`, see the [support](crate::imbalance) definition); a climb that never
//!    was inside the support gives no ball. A climb that converges to a local maximum of the
//!    distance to the data ends surrounded by its touching points, so interior maxima are
//!    kept whole, while a climb running out of the data is cut where it left the support.
//!    Duplicates (centres that converged to the same maximum) are dropped; balls are
//!    returned largest first.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VoidError};
use crate::index::{KnnIndex, Neighbour};
use crate::support::{imbalance_with_stop, min_norm_in_hull, Envelope};

/// Options of the empty-ball search.
///
/// ```
/// use cllm_void::BallSearchOptions;
/// let o = BallSearchOptions { candidates: 500, seed: 7, ..Default::default() };
/// assert_eq!(o.climbers, BallSearchOptions::default().climbers);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BallSearchOptions {
    /// Number of seed centres screened.
    pub candidates: usize,
    /// Number of the best screened seeds that are hill-climbed.
    pub climbers: usize,
    /// Neighbours fetched per hill-climbing step (the touching set is among them) and for the
    /// Monte-Carlo baseline's support test; `None` = `2 · dim + 2`.
    pub support_k: Option<usize>,
    /// Largest [imbalance](crate::imbalance) of a ball inside the support.
    pub max_imbalance: f32,
    /// Quantile of the data's Mahalanobis distances bounding the envelope (1 = the farthest point).
    pub envelope_quantile: f32,
    /// Points within `(1 + touch_tolerance) · r` of a centre count as touching its ball.
    pub touch_tolerance: f32,
    /// Maximum hill-climbing steps per centre.
    pub max_steps: usize,
    /// Seed of the random generator.
    pub seed: u64,
}

impl Default for BallSearchOptions {
    fn default() -> Self {
        Self {
            candidates: 4000,
            climbers: 64,
            support_k: None,
            max_imbalance: 0.2,
            envelope_quantile: 1.0,
            touch_tolerance: 0.02,
            max_steps: 60,
            seed: 0,
        }
    }
}

impl BallSearchOptions {
    /// The support neighbourhood size for points of dimension `dim` among `n` points.
    pub fn support_k_for(&self, dim: usize, n: usize) -> usize {
        self.support_k.unwrap_or(2 * dim + 2).clamp(1, n.max(1))
    }

    fn validate(&self) -> Result<()> {
        if self.candidates == 0 || self.climbers == 0 {
            return Err(VoidError::InvalidInput(
                "candidates and climbers must be positive".into(),
            ));
        }
        if !(self.max_imbalance >= 0.0 && self.max_imbalance <= 1.0) {
            return Err(VoidError::InvalidInput(
                "max_imbalance must be in [0, 1]".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.envelope_quantile) {
            return Err(VoidError::InvalidInput(
                "envelope_quantile must be in [0, 1]".into(),
            ));
        }
        if !(self.touch_tolerance >= 0.0 && self.touch_tolerance.is_finite()) {
            return Err(VoidError::InvalidInput(
                "touch_tolerance must be >= 0".into(),
            ));
        }
        Ok(())
    }
}

/// An empty ball: no data point lies strictly inside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmptyBall {
    /// Centre of the ball.
    pub centre: Vec<f32>,
    /// Radius: the distance from the centre to the nearest data point.
    pub radius: f32,
    /// [Imbalance](crate::imbalance) of the centre with respect to its `support_k` nearest
    /// data points (0 = surrounded on all sides).
    pub imbalance: f32,
    /// Rows of the data points touching the sphere (within the touch tolerance), nearest first.
    pub touching: Vec<usize>,
}

impl EmptyBall {
    /// The empty ball centred at `centre`: radius = distance to the nearest data point;
    /// the touching points are searched among the `support_k` nearest.
    ///
    /// ```
    /// use cllm_void::{EmptyBall, KnnIndex, IndexKind, PointSet};
    /// let idx = KnnIndex::build(PointSet::new(1, vec![0.0, 4.0])?, IndexKind::Auto)?;
    /// let b = EmptyBall::at(&idx, &[1.0], 2, 0.01)?;
    /// assert_eq!(b.radius, 1.0);
    /// assert_eq!(b.touching, vec![0]);
    /// # Ok::<(), cllm_void::VoidError>(())
    /// ```
    pub fn at(
        index: &KnnIndex,
        centre: &[f32],
        support_k: usize,
        touch_tolerance: f32,
    ) -> Result<Self> {
        index.points().check_query(centre)?;
        if support_k == 0 {
            return Err(VoidError::InvalidInput("support_k must be positive".into()));
        }
        let nb = index.knn_unchecked(centre, support_k);
        Ok(Self::from_neighbours(
            index,
            centre.to_vec(),
            &nb,
            touch_tolerance,
        ))
    }

    fn from_neighbours(index: &KnnIndex, centre: Vec<f32>, nb: &[Neighbour], tol: f32) -> Self {
        let radius = nb.first().map_or(0.0, |n| n.distance);
        let touching: Vec<usize> = nb
            .iter()
            .filter(|n| n.distance <= radius * (1.0 + tol))
            .map(|n| n.index)
            .collect();
        // the centre and the rows are of the index's dimension
        let imb = imbalance_with_stop(&centre, nb.iter().map(|n| index.points().row(n.index)), 0.0);
        Self {
            centre,
            radius,
            imbalance: imb,
            touching,
        }
    }

    /// Natural log of the ball's volume, `log V_d + d · log r` (never `r^d`).
    pub fn log_volume(&self) -> f64 {
        crate::density::log_unit_ball_volume(self.centre.len())
            + self.centre.len() as f64 * (self.radius as f64).ln()
    }
}

/// Hill-climbs `start` to (locally) maximise the empty radius inside the envelope, and
/// returns the last ball on the path inside the support (or the final ball if none was).
/// The radius grows along the path, so the returned radius is never smaller than the start's.
///
/// ```
/// use cllm_void::{hill_climb, BallSearchOptions, EmptyBall, KnnIndex, IndexKind, PointSet};
/// // A square of points: the best empty ball is centred at (0.5, 0.5).
/// let p = PointSet::new(2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0])?;
/// let idx = KnnIndex::build(p, IndexKind::Auto)?;
/// let o = BallSearchOptions { support_k: Some(4), ..Default::default() };
/// let start = EmptyBall::at(&idx, &[0.4, 0.45], 4, 0.02)?;
/// let b = hill_climb(&idx, &[0.4, 0.45], &o)?;
/// assert!(b.radius >= start.radius);
/// assert!((b.radius - 0.5f32.sqrt()).abs() < 1e-2);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn hill_climb(index: &KnnIndex, start: &[f32], opts: &BallSearchOptions) -> Result<EmptyBall> {
    opts.validate()?;
    index.points().check_query(start)?;
    let envelope = Envelope::new(index.points(), opts.envelope_quantile);
    Ok(climb(index, &envelope, start.to_vec(), opts))
}

fn climb(
    index: &KnnIndex,
    envelope: &Envelope,
    start: Vec<f32>,
    opts: &BallSearchOptions,
) -> EmptyBall {
    let d = index.dim();
    let k = opts.support_k_for(d, index.len());
    let points = index.points();
    let mut c = start;
    let mut nb = index.knn_unchecked(&c, k);
    let mut r = nb[0].distance;
    let mut step = (0.5 * r).max(1e-6);
    let min_step = 1e-4 * r.max(1e-6);
    let supported = |c: &[f32], nb: &[Neighbour]| {
        imbalance_with_stop(
            c,
            nb.iter().map(|n| points.row(n.index)),
            opts.max_imbalance,
        ) <= opts.max_imbalance
    };
    let mut best_supported = supported(&c, &nb).then(|| (c.clone(), nb.clone()));
    let mut dirs = Vec::with_capacity(k * d);
    let mut trial = vec![0.0f32; d];
    for _ in 0..opts.max_steps {
        // Ascent direction: min-norm point of the hull of unit vectors away from touching points.
        dirs.clear();
        let active_r = r * (1.0 + opts.touch_tolerance) + 1e-12;
        for n in nb.iter().take_while(|n| n.distance <= active_r) {
            let p = points.row(n.index);
            let norm = n.distance.max(1e-20) as f64;
            dirs.extend(c.iter().zip(p).map(|(a, b)| (*a - *b) as f64 / norm));
        }
        let (g, gn) = min_norm_in_hull(&dirs, d, 0.0);
        if gn < 1e-6 {
            break; // a local maximum: the touching points surround the centre
        }
        let mut accepted = false;
        while step >= min_step {
            for j in 0..d {
                trial[j] = c[j] + (step as f64 * g[j] / gn) as f32;
            }
            let tnb = index.knn_unchecked(&trial, k);
            let tr = tnb[0].distance;
            if tr > r && envelope.contains(&trial) {
                c.copy_from_slice(&trial);
                nb = tnb;
                r = tr;
                if supported(&c, &nb) {
                    best_supported = Some((c.clone(), nb.clone()));
                }
                step *= 1.5;
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break;
        }
    }
    // The radius grows along the path, so the last supported centre is the best one.
    match best_supported {
        Some((c, nb)) => EmptyBall::from_neighbours(index, c, &nb, opts.touch_tolerance),
        None => EmptyBall::from_neighbours(index, c, &nb, opts.touch_tolerance),
    }
}

/// Draws `count` seed centres on chords of the data (see the module docs).
pub(crate) fn seed_centres(index: &KnnIndex, count: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    let points = index.points();
    let n = points.len();
    (0..count)
        .map(|_| {
            let a = points.row(rng.random_range(0..n));
            let b = points.row(rng.random_range(0..n));
            let t: f32 = rng.random();
            a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect()
        })
        .collect()
}

/// Screens seeds: returns `(radius, centre)` of all seeds, largest radius first.
fn screen(index: &KnnIndex, seeds: Vec<Vec<f32>>) -> Vec<(f32, Vec<f32>)> {
    let mut scored: Vec<(f32, Vec<f32>)> = seeds
        .into_par_iter()
        .map(|c| (index.nearest_unchecked(&c).distance, c))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
}

fn in_support(index: &KnnIndex, c: &[f32], k: usize, max_imbalance: f32) -> bool {
    let nb = index.knn_unchecked(c, k);
    imbalance_with_stop(c, nb.iter().map(|n| index.points().row(n.index)), 0.0) <= max_imbalance
}

/// Runs the empty-ball search; returns maximal empty balls inside the support, largest first.
///
/// ```
/// use cllm_void::{search_empty_balls, BallSearchOptions, KnnIndex, IndexKind, PlantedHole};
/// let data = PlantedHole::new(400, 2).with_seed(1).generate()?;
/// let idx = KnnIndex::build(data.points, IndexKind::Auto)?;
/// let balls = search_empty_balls(&idx, &BallSearchOptions { candidates: 500, ..Default::default() })?;
/// assert!(balls[0].radius > 0.2);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn search_empty_balls(index: &KnnIndex, opts: &BallSearchOptions) -> Result<Vec<EmptyBall>> {
    opts.validate()?;
    let d = index.dim();
    let n = index.len();
    if n < d + 2 {
        return Err(VoidError::TooFewPoints {
            need: d + 2,
            got: n,
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let seeds = seed_centres(index, opts.candidates, &mut rng);
    let envelope = Envelope::new(index.points(), opts.envelope_quantile);
    let kept: Vec<Vec<f32>> = screen(index, seeds)
        .into_iter()
        .filter(|(_, c)| envelope.contains(c))
        .take(opts.climbers)
        .map(|(_, c)| c)
        .collect();
    let mut balls: Vec<EmptyBall> = kept
        .into_par_iter()
        .map(|c| climb(index, &envelope, c, opts))
        .collect();
    balls.retain(|b| b.imbalance <= opts.max_imbalance && b.radius > 0.0);
    balls.sort_by(|a, b| b.radius.total_cmp(&a.radius));
    // Drop duplicates: a ball whose centre lies within 1% of the radius of a kept one.
    let mut out: Vec<EmptyBall> = Vec::new();
    for b in balls {
        let dup = out.iter().any(|o| {
            crate::points::squared_distance(&o.centre, &b.centre).sqrt() <= 0.01 * o.radius
        });
        if !dup {
            out.push(b);
        }
    }
    tracing::debug!(
        balls = out.len(),
        best = out.first().map(|b| b.radius),
        "empty-ball search"
    );
    Ok(out)
}

/// Plain Monte-Carlo baseline: screens `candidates` seeds (same seed distribution as
/// [`search_empty_balls`]) with no hill climbing; returns the largest empty ball whose centre
/// is inside the envelope and surrounded by its `support_k` nearest data points
/// (imbalance ≤ `max_imbalance`) — a random centre touches one point only, so the
/// touching-point test of climbed balls does not apply to it.
///
/// ```
/// use cllm_void::{monte_carlo_best_ball, BallSearchOptions, KnnIndex, IndexKind, PlantedHole};
/// let data = PlantedHole::new(400, 2).with_seed(1).generate()?;
/// let idx = KnnIndex::build(data.points, IndexKind::Auto)?;
/// let b = monte_carlo_best_ball(&idx, &BallSearchOptions::default())?.unwrap();
/// assert!(b.radius > 0.1);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn monte_carlo_best_ball(
    index: &KnnIndex,
    opts: &BallSearchOptions,
) -> Result<Option<EmptyBall>> {
    opts.validate()?;
    let k = opts.support_k_for(index.dim(), index.len());
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let seeds = seed_centres(index, opts.candidates, &mut rng);
    let envelope = Envelope::new(index.points(), opts.envelope_quantile);
    for (_, c) in screen(index, seeds) {
        if envelope.contains(&c) && in_support(index, &c, k, opts.max_imbalance) {
            return Ok(Some(EmptyBall::at(index, &c, k, opts.touch_tolerance)?));
        }
    }
    Ok(None)
}
