//! The end-to-end void search (`cllm voids`): search, zones, null significance, report.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::empty_ball::{search_empty_balls, BallSearchOptions};
use crate::error::{Result, VoidError};
use crate::index::{IndexKind, KnnIndex};
use crate::null::{null_points, NullDistribution, NullModel, ZoneSignificance};
use crate::points::PointSet;
use crate::progress::progress_bar;
use crate::store::VectorStore;
use crate::zones::{merge_into_zones, VoidZone};
use cllm_core::write_atomic;

/// Options of the null test.
///
/// ```
/// let o = cllm_void::NullOptions::default();
/// assert_eq!(o.runs, 19);
/// assert_eq!(o.alpha, 0.05);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NullOptions {
    /// Null models to run; a zone is significant only if it beats all of them.
    pub models: Vec<NullModel>,
    /// Null runs per model (19 runs make p = 0.05 the smallest p-value).
    pub runs: usize,
    /// Significance level.
    pub alpha: f64,
}

impl Default for NullOptions {
    fn default() -> Self {
        Self {
            models: vec![NullModel::Gaussian, NullModel::Shuffle],
            runs: 19,
            alpha: 0.05,
        }
    }
}

/// Options of [`find_voids`].
///
/// ```
/// use cllm_void::VoidSearchOptions;
/// let mut o = VoidSearchOptions::default();
/// o.null.runs = 0; // skip the null test
/// o.search.seed = 42;
/// assert_eq!(o.top, 10);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoidSearchOptions {
    /// The nearest-neighbour index to use.
    pub index: IndexKind,
    /// The empty-ball search.
    pub search: BallSearchOptions,
    /// Neighbour rank for the local spacing of a zone; `None` = `clamp(2 · dim, 8, 32)`.
    pub spacing_k: Option<usize>,
    /// The null test.
    pub null: NullOptions,
    /// Number of zones kept in the report.
    pub top: usize,
    /// Show progress bars (only ever drawn on a terminal).
    pub progress: bool,
}

impl Default for VoidSearchOptions {
    fn default() -> Self {
        Self {
            index: IndexKind::Auto,
            search: BallSearchOptions::default(),
            spacing_k: None,
            null: NullOptions::default(),
            top: 10,
            progress: true,
        }
    }
}

impl VoidSearchOptions {
    fn spacing_k_for(&self, dim: usize) -> usize {
        self.spacing_k.unwrap_or((2 * dim).clamp(8, 32))
    }
}

/// One zone of a [`VoidReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedZone {
    /// 1-based rank (by relative radius).
    pub rank: usize,
    /// The zone.
    #[serde(flatten)]
    pub zone: VoidZone,
    /// Document ids of the bounding points (when the points came with ids).
    pub bounding_ids: Vec<String>,
    /// Significance against the null runs (`None` when no null test was run).
    pub significance: Option<ZoneSignificance>,
}

/// The result of a void search: ranked zones with their significance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoidReport {
    /// The collection searched (empty for a bare point set).
    pub collection: String,
    /// Number of points.
    pub n_points: usize,
    /// Dimension.
    pub dim: usize,
    /// Whether the k-d tree was used (else the brute-force scan).
    pub kd_tree: bool,
    /// Zones, best first (at most `options.top`).
    pub zones: Vec<RankedZone>,
    /// Total number of zones found before truncation to `options.top`.
    pub zones_found: usize,
    /// The null distributions that were run.
    pub nulls: Vec<NullDistribution>,
    /// The options used.
    pub options: VoidSearchOptions,
    /// The [`ContentKey`](cllm_core::ContentKey) of what the searched points were made
    /// from, when the caller records it (`cllm experiment` does: its training vectors and
    /// their ids), so a later run can tell a report of other data from its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_from: Option<cllm_core::ContentKey>,
}

impl VoidReport {
    /// Writes the report as pretty JSON, atomically (temp file + rename).
    ///
    /// ```
    /// use cllm_void::{find_voids_in_points, PlantedHole, VoidReport, VoidSearchOptions};
    /// let data = PlantedHole::new(300, 2).generate()?;
    /// let mut o = VoidSearchOptions::default();
    /// o.null.runs = 0;
    /// o.search.candidates = 300;
    /// let report = find_voids_in_points(data.points, None, &o)?;
    /// let dir = tempfile::tempdir()?;
    /// report.write_json_atomic(&dir.path().join("voids.json"))?;
    /// let back: VoidReport = serde_json::from_slice(&std::fs::read(dir.path().join("voids.json"))?)?;
    /// assert_eq!(back.zones.len(), report.zones.len());
    /// # Ok::<(), cllm_void::VoidError>(())
    /// ```
    pub fn write_json_atomic(&self, path: &Path) -> Result<()> {
        Ok(write_atomic(path, &serde_json::to_vec_pretty(self)?)?)
    }

    /// Zones significant at the report's level.
    pub fn significant_zones(&self) -> impl Iterator<Item = &RankedZone> {
        self.zones
            .iter()
            .filter(|z| z.significance.as_ref().is_some_and(|s| s.significant))
    }
}

impl fmt::Display for VoidReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "void zones of {} ({} points, {} dims, {}): {} found",
            if self.collection.is_empty() {
                "<points>"
            } else {
                &self.collection
            },
            self.n_points,
            self.dim,
            if self.kd_tree {
                "k-d tree"
            } else {
                "brute force"
            },
            self.zones_found
        )?;
        for n in &self.nulls {
            writeln!(
                f,
                "  null {:<8} {} runs, mean max relative radius {:.3}",
                n.model.to_string(),
                n.maxima.len(),
                n.mean()
            )?;
        }
        writeln!(
            f,
            "{:>4} {:>10} {:>10} {:>8} {:>6} {:>8}  bounding",
            "rank", "radius", "rel.rad", "p", "balls", "sig"
        )?;
        for z in &self.zones {
            let (p, sig) = match &z.significance {
                Some(s) => (
                    format!("{:.3}", s.p_value),
                    if s.significant { "yes" } else { "no" },
                ),
                None => ("-".into(), "-"),
            };
            let ids = if z.bounding_ids.is_empty() {
                format!("{} points", z.zone.bounding_points.len())
            } else {
                let shown: Vec<&str> = z.bounding_ids.iter().take(4).map(String::as_str).collect();
                let more = z.bounding_ids.len().saturating_sub(4);
                if more > 0 {
                    format!("{} (+{more})", shown.join(", "))
                } else {
                    shown.join(", ")
                }
            };
            writeln!(
                f,
                "{:>4} {:>10.4} {:>10.3} {:>8} {:>6} {:>8}  {}",
                z.rank,
                z.zone.radius,
                z.zone.relative_radius,
                p,
                z.zone.balls.len(),
                sig,
                ids
            )?;
        }
        Ok(())
    }
}

/// Searches one point set for void zones (no null test): index, balls, zones.
///
/// ```
/// use cllm_void::{void_zones, PlantedHole, VoidSearchOptions};
/// let data = PlantedHole::new(400, 2).generate()?;
/// let zones = void_zones(data.points, &VoidSearchOptions::default())?;
/// assert!(!zones.is_empty());
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn void_zones(points: PointSet, opts: &VoidSearchOptions) -> Result<Vec<VoidZone>> {
    Ok(zones_with_index(points, opts, opts.search.seed)?.1)
}

fn zones_with_index(
    points: PointSet,
    opts: &VoidSearchOptions,
    seed: u64,
) -> Result<(KnnIndex, Vec<VoidZone>)> {
    let dim = points.dim();
    let index = KnnIndex::build(points, opts.index)?;
    let search = BallSearchOptions {
        seed,
        ..opts.search.clone()
    };
    let balls = search_empty_balls(&index, &search)?;
    let zones = merge_into_zones(&index, balls, opts.spacing_k_for(dim))?;
    Ok((index, zones))
}

/// Runs the null test for `points`: the largest relative radius of each null run.
pub fn null_distributions(
    points: &PointSet,
    opts: &VoidSearchOptions,
) -> Result<Vec<NullDistribution>> {
    let total = (opts.null.models.len() * opts.null.runs) as u64;
    let bar = progress_bar(total, "null runs", opts.progress);
    let mut out = Vec::new();
    for (m, &model) in opts.null.models.iter().enumerate() {
        let mut maxima = Vec::with_capacity(opts.null.runs);
        for run in 0..opts.null.runs {
            let seed = mix_seed(opts.search.seed, m as u64 + 1, run as u64);
            let null = null_points(points, model, seed)?;
            let (_, zones) = zones_with_index(null, opts, seed ^ 0x5eed)?;
            maxima.push(zones.first().map_or(0.0, |z| z.relative_radius));
            bar.inc(1);
        }
        tracing::info!(%model, runs = opts.null.runs, "null runs done");
        out.push(NullDistribution { model, maxima });
    }
    bar.finish_and_clear();
    Ok(out)
}

fn mix_seed(seed: u64, a: u64, b: u64) -> u64 {
    // SplitMix64-style mixing of (seed, a, b).
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Full void search on a point set: zones, null test, ranked report. `ids`, when given,
/// names the points (one id per point) in the report.
///
/// ```
/// use cllm_void::{find_voids_in_points, PlantedHole, VoidSearchOptions};
/// let data = PlantedHole::new(400, 2).with_seed(3).generate()?;
/// let mut o = VoidSearchOptions::default();
/// o.null.runs = 4;
/// o.search.candidates = 400;
/// let report = find_voids_in_points(data.points, None, &o)?;
/// assert!(report.zones[0].significance.is_some());
/// println!("{report}");
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn find_voids_in_points(
    points: PointSet,
    ids: Option<&[String]>,
    opts: &VoidSearchOptions,
) -> Result<VoidReport> {
    if let Some(ids) = ids {
        if ids.len() != points.len() {
            return Err(VoidError::InvalidInput(format!(
                "{} ids for {} points",
                ids.len(),
                points.len()
            )));
        }
    }
    if !(opts.null.alpha > 0.0 && opts.null.alpha < 1.0) {
        return Err(VoidError::InvalidInput("alpha must be in (0, 1)".into()));
    }
    let nulls = if opts.null.runs > 0 {
        null_distributions(&points, opts)?
    } else {
        Vec::new()
    };
    let (n_points, dim) = (points.len(), points.dim());
    let (index, zones) = zones_with_index(points, opts, opts.search.seed)?;
    let zones_found = zones.len();
    let zones = zones
        .into_iter()
        .take(opts.top)
        .enumerate()
        .map(|(i, zone)| {
            let bounding_ids = ids
                .map(|ids| {
                    zone.bounding_points
                        .iter()
                        .map(|&r| ids[r].clone())
                        .collect()
                })
                .unwrap_or_default();
            let significance = (!nulls.is_empty())
                .then(|| ZoneSignificance::score(zone.relative_radius, &nulls, opts.null.alpha));
            RankedZone {
                rank: i + 1,
                zone,
                bounding_ids,
                significance,
            }
        })
        .collect();
    Ok(VoidReport {
        collection: String::new(),
        n_points,
        dim,
        kd_tree: index.uses_kd_tree(),
        zones,
        zones_found,
        nulls,
        options: opts.clone(),
        made_from: None,
    })
}

/// `cllm voids`: loads a collection from the store and runs [`find_voids_in_points`].
///
/// ```
/// use cllm_core::{Document, TextVector};
/// use cllm_void::{find_voids, ModelKey, PlantedHole, VectorStore, VoidSearchOptions};
/// let data = PlantedHole::new(300, 2).generate()?;
/// let mut store = VectorStore::open_in_memory()?;
/// store.create_collection("demo", &ModelKey::new("toy", 2, "0"))?;
/// let rows: Vec<_> = data.points.rows().enumerate()
///     .map(|(i, r)| (Document::new(format!("d{i}"), ""), TextVector::new(r.to_vec()).unwrap()))
///     .collect();
/// store.insert_batch("demo", &rows)?;
/// let mut o = VoidSearchOptions::default();
/// o.null.runs = 0;
/// let report = find_voids(&store, "demo", &o)?;
/// assert_eq!(report.collection, "demo");
/// assert!(!report.zones[0].bounding_ids.is_empty());
/// # Ok::<(), cllm_void::VoidError>(())
/// ```
pub fn find_voids(
    store: &VectorStore,
    collection: &str,
    opts: &VoidSearchOptions,
) -> Result<VoidReport> {
    let (ids, points) = store.load_points(collection)?;
    tracing::info!(
        collection,
        n = points.len(),
        dim = points.dim(),
        "searching voids"
    );
    let mut report = find_voids_in_points(points, Some(&ids), opts)?;
    report.collection = collection.to_string();
    Ok(report)
}
