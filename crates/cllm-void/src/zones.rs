//! Void zones: maximal empty balls merged into unions.
//!
//! Two balls belong to the same zone when the centre of the smaller lies inside the larger
//! (transitively). A zone is described by its largest ball, a volume proxy, the data points
//! bounding it, and its **relative radius**: the largest ball's radius divided by the local
//! spacing of the data around it (the median distance of the bounding points to their
//! `spacing_k`-th nearest neighbour). The relative radius is what zones are ranked by and
//! what the null test compares, so that a hole in a dense region counts for more than an
//! equally wide gap in the sparse tails.

use serde::{Deserialize, Serialize};

use crate::empty_ball::EmptyBall;
use crate::error::{Result, VoidError};
use crate::index::KnnIndex;
use crate::points::{check_vector, squared_distance};

/// A void zone: a union of overlapping empty balls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoidZone {
    /// Centre of the zone's largest ball.
    pub centre: Vec<f32>,
    /// Radius of the zone's largest ball.
    pub radius: f32,
    /// `radius / local_spacing`: the ranking statistic.
    pub relative_radius: f32,
    /// Median distance of the bounding points to their `spacing_k`-th nearest neighbour.
    pub local_spacing: f32,
    /// Log of the summed volume of the zone's balls (an upper bound on the union's volume).
    pub log_volume: f64,
    /// Rows of the data points touching any of the zone's balls, without repeats.
    pub bounding_points: Vec<usize>,
    /// The balls of the zone, largest first.
    pub balls: Vec<EmptyBall>,
}

/// Merges balls into zones and ranks them by relative radius (largest first).
///
/// `spacing_k` is the neighbour rank used for the local spacing (clamped to the data size).
/// The balls must belong to `index`: a centre of another dimension or with a non-finite
/// value is a [`VoidError::DimMismatch`] / [`VoidError::NonFinite`], a touching row outside
/// the index a [`VoidError::InvalidInput`].
///
/// ```
/// use cllm_void::{merge_into_zones, EmptyBall, KnnIndex, IndexKind, PointSet};
/// let idx = KnnIndex::build(PointSet::new(1, vec![0.0, 0.1, 0.2, 1.0, 1.1])?, IndexKind::Auto)?;
/// let a = EmptyBall::at(&idx, &[0.6], 3, 0.01)?;
/// let b = EmptyBall::at(&idx, &[0.55], 3, 0.01)?;
/// let zones = merge_into_zones(&idx, vec![a, b], 1)?;
/// assert_eq!(zones.len(), 1);
/// assert_eq!(zones[0].balls.len(), 2);
/// assert!((zones[0].radius - 0.4).abs() < 1e-6);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn merge_into_zones(
    index: &KnnIndex,
    mut balls: Vec<EmptyBall>,
    spacing_k: usize,
) -> Result<Vec<VoidZone>> {
    for b in &balls {
        check_vector(&b.centre, index.dim())?;
        if let Some(&row) = b.touching.iter().find(|&&t| t >= index.len()) {
            return Err(VoidError::InvalidInput(format!(
                "a ball touches row {row} of an index of {} points",
                index.len()
            )));
        }
    }
    balls.retain(|b| b.radius > 0.0);
    balls.sort_by(|a, b| b.radius.total_cmp(&a.radius));
    let n = balls.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in (i + 1)..n {
            // balls[i] is at least as large as balls[j]
            let d2 = squared_distance(&balls[i].centre, &balls[j].centre);
            if d2 < balls[i].radius * balls[i].radius {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                if a != b {
                    parent[b.max(a)] = a.min(b);
                }
            }
        }
    }
    let mut groups: Vec<Vec<EmptyBall>> = Vec::new();
    let mut slot = vec![usize::MAX; n];
    for (i, ball) in balls.into_iter().enumerate() {
        let root = find(&mut parent, i);
        if slot[root] == usize::MAX {
            slot[root] = groups.len();
            groups.push(Vec::new());
        }
        groups[slot[root]].push(ball);
    }
    let k = spacing_k.clamp(1, index.len().saturating_sub(1).max(1));
    let mut zones: Vec<VoidZone> = groups
        .into_iter()
        .map(|balls| zone_from_balls(index, balls, k))
        .collect();
    zones.sort_by(|a, b| b.relative_radius.total_cmp(&a.relative_radius));
    Ok(zones)
}

fn zone_from_balls(index: &KnnIndex, balls: Vec<EmptyBall>, k: usize) -> VoidZone {
    let mut bounding: Vec<usize> = Vec::new();
    for b in &balls {
        for &t in &b.touching {
            if !bounding.contains(&t) {
                bounding.push(t);
            }
        }
    }
    let main = &balls[0];
    // Local spacing around the largest ball: its touching points' k-th neighbour distance.
    let mut spacings: Vec<f32> = main
        .touching
        .iter()
        .map(|&i| {
            let nb = index.knn_unchecked(index.points().row(i), k + 1);
            nb.last().map_or(0.0, |n| n.distance)
        })
        .collect();
    spacings.sort_by(f32::total_cmp);
    let local_spacing = spacings.get(spacings.len() / 2).copied().unwrap_or(0.0);
    // Duplicated points can make the spacing 0; keep the ratio finite (and JSON-friendly).
    let relative_radius = (main.radius / local_spacing.max(f32::MIN_POSITIVE)).min(f32::MAX);
    let logs: Vec<f64> = balls.iter().map(EmptyBall::log_volume).collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_volume = max + logs.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
    VoidZone {
        centre: main.centre.clone(),
        radius: main.radius,
        relative_radius,
        local_spacing,
        log_volume,
        bounding_points: bounding,
        balls,
    }
}
