//! Where the vectors to decode come from: the zones of a void search, jitter near data
//! points, midpoints between data points, and a Gaussian fitted to the data. Every source
//! is seeded, and every vector keeps its [`Provenance`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use cllm_void::{null_points, NullModel, PointSampler, PointSet, VoidReport};

use crate::error::{EvalError, Result};

/// A sampler of vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VectorSource {
    /// The centres of the top zones of a void search, then points uniform inside their
    /// largest ball, cycling through the zones.
    Voids {
        /// The void search (as `cllm voids` writes it).
        report: VoidReport,
    },
    /// A data point moved by `scale` × the data's per-axis standard deviation, in a
    /// uniform random direction (scaled to the data's spread).
    Near {
        /// Jitter radius in units of the data's root-mean-square spread per axis.
        scale: f32,
    },
    /// The midpoint of two random data points.
    Midpoints,
    /// A draw from the Gaussian with the data's mean and covariance.
    Gaussian,
}

impl VectorSource {
    /// Parses a sampler name: `gaussian`, `midpoints`, `near` (scale 0.5) or `near:S`.
    /// Void zones come from a file ([`VectorSource::Voids`]).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "gaussian" => Ok(Self::Gaussian),
            "midpoints" => Ok(Self::Midpoints),
            "near" => Ok(Self::Near { scale: 0.5 }),
            other => match other.strip_prefix("near:").map(str::parse::<f32>) {
                Some(Ok(scale)) if scale.is_finite() && scale >= 0.0 => Ok(Self::Near { scale }),
                _ => Err(EvalError::InvalidInput(format!(
                    "unknown sampler {name:?}: expected gaussian, midpoints, near, near:SCALE or a voids.json"
                ))),
            },
        }
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Voids { .. } => "voids",
            Self::Near { .. } => "near",
            Self::Midpoints => "midpoints",
            Self::Gaussian => "gaussian",
        }
    }
}

/// How a vector was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provenance {
    /// The centre of a void zone.
    ZoneCentre {
        /// The zone's rank in the void report.
        zone: usize,
    },
    /// Uniform inside a zone's largest ball.
    InZone {
        /// The zone's rank.
        zone: usize,
    },
    /// Jitter near a data point.
    Near {
        /// The data point's id.
        of: String,
    },
    /// Midpoint of two data points.
    Midpoint {
        /// The two ids.
        of: [String; 2],
    },
    /// A Gaussian draw.
    Gaussian,
}

/// `n` vectors from `source` around the data `points` (with their ids), seeded.
pub fn draw(
    source: &VectorSource,
    points: &PointSet,
    ids: &[String],
    n: usize,
    seed: u64,
) -> Result<Vec<(Vec<f32>, Provenance)>> {
    if points.is_empty() || ids.len() != points.len() {
        return Err(EvalError::InvalidInput(format!(
            "need data points with one id each ({} points, {} ids)",
            points.len(),
            ids.len()
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sampler = PointSampler::new(seed);
    let mut out = Vec::with_capacity(n);
    match source {
        VectorSource::Voids { report } => {
            let zones = &report.zones;
            if zones.is_empty() {
                return Err(EvalError::InvalidInput(
                    "the void report has no zones".into(),
                ));
            }
            if report.dim != points.dim() {
                return Err(EvalError::InvalidInput(format!(
                    "the void report is of dimension {}, the model's vectors of {}",
                    report.dim,
                    points.dim()
                )));
            }
            for i in 0..n {
                let z = &zones[i % zones.len()];
                if i < zones.len() {
                    out.push((
                        z.zone.centre.clone(),
                        Provenance::ZoneCentre { zone: z.rank },
                    ));
                } else {
                    let v = sampler.uniform_in_ball(&z.zone.centre, z.zone.radius)?;
                    out.push((v, Provenance::InZone { zone: z.rank }));
                }
            }
        }
        VectorSource::Near { scale } => {
            let spread = rms_spread(points);
            for _ in 0..n {
                let i = rng.random_range(0..points.len());
                let v = sampler.near_point(points.row(i), scale * spread)?;
                out.push((v, Provenance::Near { of: ids[i].clone() }));
            }
        }
        VectorSource::Midpoints => {
            for _ in 0..n {
                let (a, b) = (
                    rng.random_range(0..points.len()),
                    rng.random_range(0..points.len()),
                );
                let v = PointSampler::interpolate(points.row(a), points.row(b), 0.5)?;
                out.push((
                    v,
                    Provenance::Midpoint {
                        of: [ids[a].clone(), ids[b].clone()],
                    },
                ));
            }
        }
        VectorSource::Gaussian => {
            let drawn = null_points(points, NullModel::Gaussian, seed)?;
            for i in 0..n {
                out.push((drawn.row(i % drawn.len()).to_vec(), Provenance::Gaussian));
            }
        }
    }
    Ok(out)
}

/// Root-mean-square distance of the points to their mean, per axis.
fn rms_spread(points: &PointSet) -> f32 {
    let (n, d) = (points.len(), points.dim());
    let mut mean = vec![0.0f64; d];
    for i in 0..n {
        for (m, &v) in mean.iter_mut().zip(points.row(i)) {
            *m += f64::from(v) / n as f64;
        }
    }
    let mut total = 0.0f64;
    for i in 0..n {
        total += points
            .row(i)
            .iter()
            .zip(&mean)
            .map(|(&v, m)| (f64::from(v) - m).powi(2))
            .sum::<f64>();
    }
    (total / (n * d) as f64).sqrt() as f32 * (d as f32).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> (PointSet, Vec<String>) {
        let p = PointSet::new(2, vec![0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
        (p, (0..4).map(|i| format!("p{i}")).collect())
    }

    #[test]
    fn samplers_are_seeded_and_keep_their_provenance() {
        let (p, ids) = square();
        for source in [
            VectorSource::Gaussian,
            VectorSource::Midpoints,
            VectorSource::Near { scale: 0.1 },
        ] {
            let a = draw(&source, &p, &ids, 6, 11).unwrap();
            assert_eq!(a, draw(&source, &p, &ids, 6, 11).unwrap(), "{source:?}");
            assert_eq!(a.len(), 6);
            assert!(a
                .iter()
                .all(|(v, _)| v.len() == 2 && v.iter().all(|x| x.is_finite())));
        }
        // a midpoint lies halfway between the two points it names
        for (v, prov) in draw(&VectorSource::Midpoints, &p, &ids, 8, 3).unwrap() {
            let Provenance::Midpoint { of } = prov else {
                panic!("provenance")
            };
            let row = |id: &str| p.row(ids.iter().position(|x| x == id).unwrap()).to_vec();
            let (a, b) = (row(&of[0]), row(&of[1]));
            for k in 0..2 {
                assert!((v[k] - 0.5 * (a[k] + b[k])).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn bad_sampler_names_and_inputs_are_typed_errors() {
        assert!(matches!(
            VectorSource::parse("nope"),
            Err(EvalError::InvalidInput(_))
        ));
        assert!(VectorSource::parse("near:-1").is_err());
        assert_eq!(
            VectorSource::parse("near:0.25").unwrap(),
            VectorSource::Near { scale: 0.25 }
        );
        let (p, ids) = square();
        assert!(draw(&VectorSource::Gaussian, &p, &ids[..3], 2, 0).is_err());
    }
}
