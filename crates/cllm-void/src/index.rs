//! Exact nearest-neighbour queries: a `kiddo` k-d tree for the dimensions it serves
//! well, an exact brute-force scan (8-lane, multi-threaded) above them.

use std::num::NonZero;

use kiddo::immutable::float::kdtree::ImmutableKdTree;
use kiddo::SquaredEuclidean;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VoidError};
use crate::points::{squared_distance, PointSet};

/// Dimensions for which a k-d tree is compiled (kiddo needs the dimension at compile time;
/// a runtime dimension is dispatched to one of these).
pub const KD_TREE_DIMS: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 32,
];

/// Largest dimension for which [`IndexKind::Auto`] picks the k-d tree; above it the brute-force
/// scan is used. On uniform points (20,000, k = 10) the tree wins up to 8 dimensions and loses
/// from 12 on (`examples/knn_crossover.rs`, `docs/benchmarks.md`).
pub const AUTO_KD_TREE_MAX_DIM: usize = 10;

/// Which search structure a [`KnnIndex`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum IndexKind {
    /// The k-d tree up to [`AUTO_KD_TREE_MAX_DIM`] (if compiled for the dimension), else brute force.
    #[default]
    Auto,
    /// Always the k-d tree; falls back to brute force for a dimension not in [`KD_TREE_DIMS`].
    KdTree,
    /// Always the exact brute-force scan.
    BruteForce,
}

/// One neighbour: the index of a point in the indexed [`PointSet`] and its Euclidean distance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Neighbour {
    /// Row of the point in the indexed set.
    pub index: usize,
    /// Euclidean distance from the query.
    pub distance: f32,
}

/// The `k` nearest neighbours of every indexed point (itself excluded), row-major `n × k`.
///
/// ```
/// use cllm_void::{KnnIndex, IndexKind, PointSet};
/// let p = PointSet::new(1, vec![0.0, 1.0, 3.0])?;
/// let t = KnnIndex::build(p, IndexKind::Auto)?.knn_all(1)?;
/// assert_eq!(t.indices(0), &[1]);
/// assert_eq!(t.distances(2), &[2.0]);
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnnTable {
    k: usize,
    indices: Vec<u32>,
    distances: Vec<f32>,
}

impl KnnTable {
    /// Neighbours per point.
    pub fn k(&self) -> usize {
        self.k
    }
    /// Number of points.
    pub fn len(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }
    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    /// Neighbour rows of point `i`, nearest first.
    pub fn indices(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }
    /// Neighbour distances of point `i`, ascending.
    pub fn distances(&self, i: usize) -> &[f32] {
        &self.distances[i * self.k..(i + 1) * self.k]
    }
    /// Distance of every point to its `k`-th neighbour.
    pub fn kth_distances(&self) -> Vec<f32> {
        self.distances
            .chunks_exact(self.k)
            .map(|c| c[self.k - 1])
            .collect()
    }
}

trait KdQuery: Send + Sync {
    fn knn(&self, q: &[f32], k: usize) -> Vec<Neighbour>;
    fn nearest(&self, q: &[f32]) -> Neighbour;
}

struct Kd<const K: usize>(ImmutableKdTree<f32, u32, K, 32>);

impl<const K: usize> Kd<K> {
    fn build(points: &PointSet) -> Self {
        let rows: Vec<[f32; K]> = points
            .rows()
            .map(|r| {
                let mut a = [0.0f32; K];
                a.copy_from_slice(r);
                a
            })
            .collect();
        Self(ImmutableKdTree::new_from_slice(&rows))
    }
    fn key(q: &[f32]) -> [f32; K] {
        let mut a = [0.0f32; K];
        a.copy_from_slice(q);
        a
    }
}

impl<const K: usize> KdQuery for Kd<K> {
    fn knn(&self, q: &[f32], k: usize) -> Vec<Neighbour> {
        let Some(k) = NonZero::new(k) else {
            return Vec::new();
        };
        self.0
            .nearest_n::<SquaredEuclidean>(&Self::key(q), k)
            .into_iter()
            .map(|n| Neighbour {
                index: n.item as usize,
                distance: n.distance.max(0.0).sqrt(),
            })
            .collect()
    }
    fn nearest(&self, q: &[f32]) -> Neighbour {
        let n = self.0.nearest_one::<SquaredEuclidean>(&Self::key(q));
        Neighbour {
            index: n.item as usize,
            distance: n.distance.max(0.0).sqrt(),
        }
    }
}

macro_rules! build_kd {
    ($dim:expr, $points:expr; $($k:literal),*) => {
        match $dim {
            $( $k => Some(Box::new(Kd::<$k>::build($points)) as Box<dyn KdQuery>), )*
            _ => None,
        }
    };
}

fn build_kd_tree(points: &PointSet) -> Option<Box<dyn KdQuery>> {
    build_kd!(points.dim(), points; 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 32)
}

/// An exact k-nearest-neighbour index over a [`PointSet`], with a dimension chosen at run time.
///
/// Distances are Euclidean. Queries are validated (dimension, finiteness).
///
/// ```
/// use cllm_void::{KnnIndex, IndexKind, PointSet};
/// let p = PointSet::new(2, vec![0.0, 0.0, 1.0, 0.0, 5.0, 5.0])?;
/// for kind in [IndexKind::KdTree, IndexKind::BruteForce] {
///     let idx = KnnIndex::build(p.clone(), kind)?;
///     let nn = idx.knn(&[0.9, 0.0], 2)?;
///     assert_eq!(nn[0].index, 1);
///     assert_eq!(nn[1].index, 0);
/// }
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub struct KnnIndex {
    points: PointSet,
    kd: Option<Box<dyn KdQuery>>,
    blocked: Option<BlockedPoints>,
}

impl std::fmt::Debug for KnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnnIndex")
            .field("len", &self.points.len())
            .field("dim", &self.points.dim())
            .field("kd_tree", &self.kd.is_some())
            .finish()
    }
}

impl KnnIndex {
    /// Indexes `points` (at least one point).
    pub fn build(points: PointSet, kind: IndexKind) -> Result<Self> {
        if points.is_empty() {
            return Err(VoidError::TooFewPoints { need: 1, got: 0 });
        }
        if points.len() > u32::MAX as usize {
            return Err(VoidError::InvalidInput("more than 2^32 points".into()));
        }
        let use_kd = match kind {
            IndexKind::Auto => points.dim() <= AUTO_KD_TREE_MAX_DIM,
            IndexKind::KdTree => true,
            IndexKind::BruteForce => false,
        };
        let kd = if use_kd { build_kd_tree(&points) } else { None };
        let blocked = kd.is_none().then(|| BlockedPoints::new(&points));
        tracing::debug!(
            n = points.len(),
            dim = points.dim(),
            kd_tree = kd.is_some(),
            "built knn index"
        );
        Ok(Self {
            points,
            kd,
            blocked,
        })
    }

    /// The indexed points.
    pub fn points(&self) -> &PointSet {
        &self.points
    }

    /// Number of indexed points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Always false: an index holds at least one point.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Dimension of the indexed points.
    pub fn dim(&self) -> usize {
        self.points.dim()
    }

    /// Whether queries go through the k-d tree (else the brute-force scan).
    pub fn uses_kd_tree(&self) -> bool {
        self.kd.is_some()
    }

    /// The `k` nearest points to `q` (fewer if the index is smaller), nearest first.
    pub fn knn(&self, q: &[f32], k: usize) -> Result<Vec<Neighbour>> {
        self.points.check_query(q)?;
        Ok(self.knn_unchecked(q, k))
    }

    /// The nearest point to `q`.
    pub fn nearest(&self, q: &[f32]) -> Result<Neighbour> {
        self.points.check_query(q)?;
        Ok(self.nearest_unchecked(q))
    }

    pub(crate) fn knn_unchecked(&self, q: &[f32], k: usize) -> Vec<Neighbour> {
        let k = k.min(self.points.len());
        match (&self.kd, &self.blocked) {
            (Some(kd), _) => kd.knn(q, k),
            (None, Some(b)) => b.knn(q, k),
            (None, None) => brute_knn(&self.points, q, k),
        }
    }

    pub(crate) fn nearest_unchecked(&self, q: &[f32]) -> Neighbour {
        match &self.kd {
            Some(kd) => kd.nearest(q),
            None => self.knn_unchecked(q, 1)[0],
        }
    }

    /// The `k` nearest neighbours of every indexed point, the point itself excluded
    /// (multi-threaded). Needs `k < len()`.
    pub fn knn_all(&self, k: usize) -> Result<KnnTable> {
        let n = self.points.len();
        if k == 0 {
            return Err(VoidError::InvalidInput("k must be positive".into()));
        }
        if k >= n {
            return Err(VoidError::TooFewPoints {
                need: k + 1,
                got: n,
            });
        }
        let mut indices = vec![0u32; n * k];
        let mut distances = vec![0f32; n * k];
        indices
            .par_chunks_mut(k)
            .zip(distances.par_chunks_mut(k))
            .enumerate()
            .for_each(|(i, (ix, ds))| {
                let found = self.knn_unchecked(self.points.row(i), k + 1);
                for (w, nb) in found.iter().filter(|nb| nb.index != i).take(k).enumerate() {
                    ix[w] = nb.index as u32;
                    ds[w] = nb.distance;
                }
            });
        Ok(KnnTable {
            k,
            indices,
            distances,
        })
    }

    /// The `k` nearest indexed points of each query row (multi-threaded), as a table
    /// (self is *not* excluded).
    pub fn knn_batch(&self, queries: &PointSet, k: usize) -> Result<KnnTable> {
        if queries.dim() != self.dim() {
            return Err(VoidError::DimMismatch {
                expected: self.dim(),
                got: queries.dim(),
            });
        }
        if k == 0 || k > self.len() {
            return Err(VoidError::InvalidInput(format!(
                "k must be in 1..={}",
                self.len()
            )));
        }
        let m = queries.len();
        let mut indices = vec![0u32; m * k];
        let mut distances = vec![0f32; m * k];
        indices
            .par_chunks_mut(k)
            .zip(distances.par_chunks_mut(k))
            .enumerate()
            .for_each(|(i, (ix, ds))| {
                for (w, nb) in self
                    .knn_unchecked(queries.row(i), k)
                    .into_iter()
                    .enumerate()
                {
                    ix[w] = nb.index as u32;
                    ds[w] = nb.distance;
                }
            });
        Ok(KnnTable {
            k,
            indices,
            distances,
        })
    }

    /// Number of indexed points strictly closer to `q` than `radius` (exact scan).
    pub fn count_within(&self, q: &[f32], radius: f32) -> Result<usize> {
        self.points.check_query(q)?;
        let r2 = radius * radius;
        Ok(self
            .points
            .rows()
            .filter(|p| squared_distance(p, q) < r2)
            .count())
    }
}

/// Lanes of the brute-force kernel: points are stored in blocks of 8 (structure of arrays),
/// so that one query is compared with 8 points at once in one SIMD register.
const LANES: usize = 8;

/// The points in blocks of [`LANES`], layout `[block][dim][lane]`; padding lanes are far away.
struct BlockedPoints {
    dim: usize,
    n: usize,
    data: Vec<f32>,
}

impl BlockedPoints {
    fn new(points: &PointSet) -> Self {
        let (n, dim) = (points.len(), points.dim());
        let blocks = n.div_ceil(LANES);
        let mut data = vec![1e18f32; blocks * dim * LANES];
        for (i, p) in points.rows().enumerate() {
            let (b, l) = (i / LANES, i % LANES);
            for (j, v) in p.iter().enumerate() {
                data[b * dim * LANES + j * LANES + l] = *v;
            }
        }
        Self { dim, n, data }
    }

    fn knn(&self, q: &[f32], k: usize) -> Vec<Neighbour> {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU supports the features enabled on `scan_avx2`.
                return unsafe { self.scan_avx2(q, k) };
            }
        }
        self.scan::<false>(q, k)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn scan_avx2(&self, q: &[f32], k: usize) -> Vec<Neighbour> {
        self.scan::<true>(q, k)
    }

    /// Exact scan keeping a sorted top-k buffer; `FMA` selects fused multiply-add.
    #[inline(always)]
    fn scan<const FMA: bool>(&self, q: &[f32], k: usize) -> Vec<Neighbour> {
        let d = self.dim;
        let mut best = TopK::new(k);
        for (b, block) in self.data.chunks_exact(d * LANES).enumerate() {
            let mut acc = [0.0f32; LANES];
            for (j, row) in block.chunks_exact(LANES).enumerate() {
                let qj = q[j];
                for l in 0..LANES {
                    let t = row[l] - qj;
                    acc[l] = if FMA {
                        t.mul_add(t, acc[l])
                    } else {
                        acc[l] + t * t
                    };
                }
            }
            for (l, &d2) in acc.iter().enumerate() {
                let i = b * LANES + l;
                if i < self.n {
                    best.offer(d2, i);
                }
            }
        }
        best.into_neighbours()
    }
}

/// The `k` smallest squared distances seen so far, sorted, with their point indices.
struct TopK {
    k: usize,
    best: Vec<(f32, u32)>,
    worst: f32,
}

impl TopK {
    fn new(k: usize) -> Self {
        Self {
            k,
            best: Vec::with_capacity(k + 1),
            worst: f32::INFINITY,
        }
    }

    /// Keeps point `i` at squared distance `d2` if it is among the `k` nearest so far.
    #[inline(always)]
    fn offer(&mut self, d2: f32, i: usize) {
        if self.k == 0 || (self.best.len() == self.k && d2 >= self.worst) {
            return;
        }
        let pos = self.best.partition_point(|&(x, _)| x <= d2);
        self.best.insert(pos, (d2, i as u32));
        if self.best.len() > self.k {
            self.best.pop();
        }
        if self.best.len() == self.k {
            self.worst = self.best[self.k - 1].0;
        }
    }

    fn into_neighbours(self) -> Vec<Neighbour> {
        self.best
            .into_iter()
            .map(|(d2, i)| Neighbour {
                index: i as usize,
                distance: d2.sqrt(),
            })
            .collect()
    }
}

/// Exact k-NN by a linear scan keeping a sorted top-k buffer.
fn brute_knn(points: &PointSet, q: &[f32], k: usize) -> Vec<Neighbour> {
    let mut best = TopK::new(k);
    for (i, p) in points.rows().enumerate() {
        best.offer(squared_distance(p, q), i);
    }
    best.into_neighbours()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_points(n: usize, d: usize, seed: u64) -> PointSet {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        PointSet::new(d, (0..n * d).map(|_| rng.random::<f32>()).collect()).unwrap()
    }

    #[test]
    fn kd_tree_and_brute_force_agree() {
        for d in [2usize, 8, 16, 17] {
            let p = random_points(500, d, d as u64);
            let kd = KnnIndex::build(p.clone(), IndexKind::KdTree).unwrap();
            let bf = KnnIndex::build(p, IndexKind::BruteForce).unwrap();
            assert_eq!(kd.uses_kd_tree(), d != 17);
            let a = kd.knn_all(5).unwrap();
            let b = bf.knn_all(5).unwrap();
            for i in 0..500 {
                for (x, y) in a.distances(i).iter().zip(b.distances(i)) {
                    assert!((x - y).abs() < 1e-5, "d={d} i={i}: {x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn duplicates_and_validation() {
        let p = PointSet::new(2, vec![1.0; 2 * 200]).unwrap();
        let idx = KnnIndex::build(p, IndexKind::KdTree).unwrap();
        let t = idx.knn_all(3).unwrap();
        assert_eq!(t.distances(7), &[0.0, 0.0, 0.0]);
        assert!(t.indices(7).iter().all(|&j| j != 7));
        assert!(matches!(
            idx.knn(&[1.0], 1),
            Err(VoidError::DimMismatch {
                expected: 2,
                got: 1
            })
        ));
        assert!(matches!(
            idx.nearest(&[1.0, f32::INFINITY]),
            Err(VoidError::NonFinite { index: 1, .. })
        ));
        assert!(idx.knn_all(200).is_err());
    }
}
