//! Synthetic point sets with a known answer, for tests, examples and benchmarks.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::{Result, VoidError};
use crate::points::PointSet;

/// Uniform points in a `latent_dim`-cube with a ball-shaped hole at its centre, embedded in
/// `dim` dimensions by a random orthonormal map plus isotropic Gaussian noise.
///
/// With `latent_dim == dim` and `noise == 0` this is a plain cube with a hole. In 8–64
/// dimensions a uniform cube has no detectable hole at any feasible size (every point of a
/// 16-cube of 2,000 points is more than half a side from its nearest neighbour), so the
/// high-dimensional cases use a low intrinsic dimension, as real text vectors have.
///
/// ```
/// use cllm_void::PlantedHole;
/// let h = PlantedHole::new(500, 8);
/// let data = h.generate()?;
/// assert_eq!((data.points.len(), data.points.dim()), (500, 8));
/// assert_eq!(data.hole_centre.len(), 8);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedHole {
    /// Number of points.
    pub n: usize,
    /// Ambient dimension.
    pub dim: usize,
    /// Dimension of the cube the points are drawn in (≤ `dim`).
    pub latent_dim: usize,
    /// Radius of the hole (the cube has side 1).
    pub hole_radius: f32,
    /// Standard deviation of the isotropic noise added in `dim` dimensions.
    pub noise: f32,
    /// Random seed.
    pub seed: u64,
}

/// The output of [`PlantedHole::generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlantedData {
    /// The points.
    pub points: PointSet,
    /// Centre of the planted hole, in the ambient space.
    pub hole_centre: Vec<f32>,
    /// Radius of the planted hole.
    pub hole_radius: f32,
}

impl PlantedHole {
    /// `n` points in `dim` dimensions: latent dimension `min(dim, 3)`, hole radius 0.25,
    /// noise 0.005 when embedded (0 otherwise), seed 0.
    pub fn new(n: usize, dim: usize) -> Self {
        let latent_dim = dim.min(3);
        Self {
            n,
            dim,
            latent_dim,
            hole_radius: 0.25,
            noise: if latent_dim < dim { 0.005 } else { 0.0 },
            seed: 0,
        }
    }

    /// Same, with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Draws the points.
    pub fn generate(&self) -> Result<PlantedData> {
        let (d, m) = (self.dim, self.latent_dim);
        if d == 0 || m == 0 || m > d || self.n == 0 {
            return Err(VoidError::InvalidInput(
                "need n > 0 and 0 < latent_dim <= dim".into(),
            ));
        }
        if !(self.hole_radius >= 0.0 && self.hole_radius < 0.5 && self.noise >= 0.0) {
            return Err(VoidError::InvalidInput(
                "hole_radius must be in [0, 0.5) and noise >= 0".into(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let basis = random_orthonormal(d, m, &mut rng);
        let embed = |z: &[f32]| -> Vec<f32> {
            (0..d)
                .map(|i| (0..m).map(|j| basis[j * d + i] * z[j]).sum())
                .collect()
        };
        let r2 = self.hole_radius * self.hole_radius;
        let mut data = Vec::with_capacity(self.n * d);
        let mut z = vec![0.0f32; m];
        let mut count = 0;
        while count < self.n {
            z.iter_mut().for_each(|v| *v = rng.random::<f32>());
            let dist2: f32 = z.iter().map(|v| (v - 0.5) * (v - 0.5)).sum();
            if dist2 < r2 {
                continue;
            }
            let x = embed(&z);
            for v in x {
                let e: f32 = StandardNormal.sample(&mut rng);
                data.push(v + self.noise * e);
            }
            count += 1;
        }
        Ok(PlantedData {
            points: PointSet::new(d, data)?,
            hole_centre: embed(&vec![0.5; m]),
            hole_radius: self.hole_radius,
        })
    }
}

/// `n` points uniform in the unit cube of dimension `dim` (no structure).
///
/// ```
/// let p = cllm_void::uniform_cube(100, 3, 42)?;
/// assert!(p.as_flat().iter().all(|v| (0.0..1.0).contains(v)));
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn uniform_cube(n: usize, dim: usize, seed: u64) -> Result<PointSet> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    PointSet::new(dim, (0..n * dim).map(|_| rng.random::<f32>()).collect())
}

/// `m` orthonormal vectors of length `d` (Gram–Schmidt on Gaussian vectors), row-major `m × d`.
fn random_orthonormal(d: usize, m: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    if m == d {
        // Identity keeps the plain cube axis-aligned.
        let mut e = vec![0.0f32; d * d];
        (0..d).for_each(|i| e[i * d + i] = 1.0);
        return e;
    }
    let mut q: Vec<Vec<f64>> = Vec::with_capacity(m);
    while q.len() < m {
        let mut v: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut *rng)).collect();
        for u in &q {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-6 {
            q.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
    q.into_iter().flatten().map(|v| v as f32).collect()
}
