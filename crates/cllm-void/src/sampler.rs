//! Seeded, reproducible samplers of points in and around void zones.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Result, VoidError};
use crate::points::{check_vector, squared_distance, PointSet};
use crate::zones::VoidZone;

/// Draws points from zones, near data and between data points. Same seed, same points.
///
/// ```
/// use cllm_void::PointSampler;
/// let mut a = PointSampler::new(7);
/// let mut b = PointSampler::new(7);
/// let p = a.uniform_in_ball(&[0.0, 0.0, 0.0], 2.0)?;
/// assert_eq!(p, b.uniform_in_ball(&[0.0, 0.0, 0.0], 2.0)?);
/// assert!(p.iter().map(|v| v * v).sum::<f32>() <= 4.0);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PointSampler {
    rng: ChaCha8Rng,
}

impl PointSampler {
    /// A sampler with its own seeded generator.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn unit_direction(&mut self, d: usize) -> Vec<f32> {
        loop {
            let v: Vec<f64> = (0..d)
                .map(|_| StandardNormal.sample(&mut self.rng))
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if n > 1e-12 {
                return v.into_iter().map(|x| (x / n) as f32).collect();
            }
        }
    }

    /// The centre of a zone (of its largest ball): the point farthest from the data found.
    pub fn zone_centre(zone: &VoidZone) -> Vec<f32> {
        zone.centre.clone()
    }

    /// A point uniform in the ball of `radius` around `centre`.
    pub fn uniform_in_ball(&mut self, centre: &[f32], radius: f32) -> Result<Vec<f32>> {
        check_vector(centre, centre.len())?;
        if centre.is_empty() || !(radius >= 0.0 && radius.is_finite()) {
            return Err(VoidError::InvalidInput(
                "need a non-empty centre and a finite radius >= 0".into(),
            ));
        }
        let d = centre.len();
        let u = self.unit_direction(d);
        let s = radius * self.rng.random::<f32>().powf(1.0 / d as f32);
        Ok(centre.iter().zip(u).map(|(c, x)| c + s * x).collect())
    }

    /// A point uniform in a zone: a ball picked with probability proportional to its volume,
    /// then a uniform point in it (points in overlaps are slightly favoured).
    ///
    /// ```
    /// use cllm_void::{void_zones, PlantedHole, PointSampler, VoidSearchOptions};
    /// let data = PlantedHole::new(400, 2).generate()?;
    /// let zones = void_zones(data.points, &VoidSearchOptions::default())?;
    /// let p = PointSampler::new(1).in_zone(&zones[0])?;
    /// assert!(zones[0].balls.iter().any(|b| {
    ///     b.centre.iter().zip(&p).map(|(a, x)| (a - x) * (a - x)).sum::<f32>() <= b.radius * b.radius * 1.0001
    /// }));
    /// # Ok::<(), cllm_void::VoidError>(())
    /// ```
    pub fn in_zone(&mut self, zone: &VoidZone) -> Result<Vec<f32>> {
        let ball = {
            let logs: Vec<f64> = zone.balls.iter().map(|b| b.log_volume()).collect();
            let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = logs.iter().map(|l| (l - max).exp()).collect();
            let total: f64 = w.iter().sum();
            let mut x = self.rng.random::<f64>() * total;
            let mut pick = 0;
            for (i, wi) in w.iter().enumerate() {
                pick = i;
                if x < *wi {
                    break;
                }
                x -= wi;
            }
            zone.balls
                .get(pick)
                .ok_or_else(|| VoidError::InvalidInput("zone has no ball".into()))?
        };
        self.uniform_in_ball(&ball.centre, ball.radius)
    }

    /// A point on the segment between the two data points nearest to the zone centre,
    /// at a uniform random position.
    ///
    /// The zone must belong to `points`: a centre of another dimension is a
    /// [`VoidError::DimMismatch`], a bounding row outside `points` a
    /// [`VoidError::InvalidInput`].
    pub fn between_nearest(&mut self, zone: &VoidZone, points: &PointSet) -> Result<Vec<f32>> {
        check_vector(&zone.centre, points.dim())?;
        if let Some(&row) = zone.bounding_points.iter().find(|&&i| i >= points.len()) {
            return Err(VoidError::InvalidInput(format!(
                "the zone is bounded by row {row} of a point set of {}",
                points.len()
            )));
        }
        let mut near: Vec<(f32, usize)> = zone
            .bounding_points
            .iter()
            .map(|&i| (squared_distance(points.row(i), &zone.centre), i))
            .collect();
        if near.len() < 2 {
            return Err(VoidError::TooFewPoints {
                need: 2,
                got: near.len(),
            });
        }
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        let t = self.rng.random::<f32>();
        Self::interpolate(points.row(near[0].1), points.row(near[1].1), t)
    }

    /// A point at distance exactly `radius` from `point`, in a uniform random direction
    /// (jitter near data).
    pub fn near_point(&mut self, point: &[f32], radius: f32) -> Result<Vec<f32>> {
        check_vector(point, point.len())?;
        if point.is_empty() || !(radius >= 0.0 && radius.is_finite()) {
            return Err(VoidError::InvalidInput(
                "need a non-empty point and a finite radius >= 0".into(),
            ));
        }
        let u = self.unit_direction(point.len());
        Ok(point.iter().zip(u).map(|(p, x)| p + radius * x).collect())
    }

    /// `a + t (b − a)`.
    ///
    /// ```
    /// let m = cllm_void::PointSampler::interpolate(&[0.0, 2.0], &[2.0, 4.0], 0.5)?;
    /// assert_eq!(m, vec![1.0, 3.0]);
    /// # Ok::<(), cllm_void::VoidError>(())
    /// ```
    pub fn interpolate(a: &[f32], b: &[f32], t: f32) -> Result<Vec<f32>> {
        check_vector(b, a.len())?;
        check_vector(a, a.len())?;
        Ok(a.iter().zip(b).map(|(x, y)| x + t * (y - x)).collect())
    }

    /// `steps` evenly spaced points from `a` to `b`, both ends included (`steps ≥ 2`).
    pub fn interpolations(a: &[f32], b: &[f32], steps: usize) -> Result<Vec<Vec<f32>>> {
        if steps < 2 {
            return Err(VoidError::InvalidInput("steps must be at least 2".into()));
        }
        (0..steps)
            .map(|i| Self::interpolate(a, b, i as f32 / (steps - 1) as f32))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{void_zones, PlantedHole, VoidSearchOptions};

    #[test]
    fn jitter_and_segment_samplers_are_exact_and_seeded() {
        let mut s = PointSampler::new(3);
        let p = [1.0f32, -2.0, 0.5, 4.0];
        for r in [0.0f32, 0.3, 2.0] {
            let q = s.near_point(&p, r).unwrap();
            assert!((squared_distance(&p, &q).sqrt() - r).abs() < 1e-5);
        }
        assert!(s.near_point(&p, f32::NAN).is_err());

        let data = PlantedHole::new(400, 2).generate().unwrap();
        let zones = void_zones(data.points.clone(), &VoidSearchOptions::default()).unwrap();
        let (mut a, mut b) = (PointSampler::new(9), PointSampler::new(9));
        let x = a.between_nearest(&zones[0], &data.points).unwrap();
        assert_eq!(x, b.between_nearest(&zones[0], &data.points).unwrap());
        // x lies on the segment between the two bounding points nearest the centre.
        let mut near: Vec<usize> = zones[0].bounding_points.clone();
        near.sort_by(|&i, &j| {
            squared_distance(data.points.row(i), &zones[0].centre)
                .total_cmp(&squared_distance(data.points.row(j), &zones[0].centre))
        });
        let (p0, p1) = (data.points.row(near[0]), data.points.row(near[1]));
        let total = squared_distance(p0, p1).sqrt();
        let via = squared_distance(p0, &x).sqrt() + squared_distance(&x, p1).sqrt();
        assert!((via - total).abs() < 1e-4 * total.max(1.0));

        let line = PointSampler::interpolations(p0, p1, 5).unwrap();
        assert_eq!(line.len(), 5);
        assert_eq!(line[0], p0.to_vec());
        assert!(squared_distance(&line[4], p1) < 1e-10);
    }
}
