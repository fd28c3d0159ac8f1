//! Step 3: the void zones of CLLM1's training vectors only (the family and the validation
//! texts are not in the collection), with the null test; kept in `voids.json`.

use std::path::Path;

use cllm_core::{Document, KeyBuilder};
use cllm_void::{find_voids_in_points, PointSet, VoidReport, VoidSearchOptions};
use serde::{Deserialize, Serialize};

use super::split::{Space, Split};
use crate::error::{EvalError, Result};

/// The zones found, with the report they came from.
pub struct Zones {
    /// The void search (as `cllm voids` writes it).
    pub report: VoidReport,
}

/// What the report states of the zones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneSummary {
    /// Training vectors searched.
    pub points: usize,
    /// Zones found before the cut to the top ones.
    pub found: usize,
    /// Zones kept (the top ones).
    pub kept: usize,
    /// Kept zones significant against every null.
    pub significant: usize,
    /// Relative radius (radius / local spacing) of the kept zones, best first.
    pub relative_radii: Vec<f32>,
    /// Null-test p-value of each kept zone (`None` without a null test).
    pub p_values: Vec<Option<f64>>,
    /// What borders each kept zone: its bounding training texts by source and family.
    #[serde(default)]
    pub composition: Vec<ZoneComposition>,
}

/// The training texts that bound a zone (the points its balls touch), by source and by
/// family. A zone whose bounding texts come from two sources in comparable shares lies in
/// the gap between two writing styles, not in unseen content: it is flagged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneComposition {
    /// 1-based rank of the zone.
    pub rank: usize,
    /// Bounding texts.
    pub bounding: usize,
    /// Bounding texts per source (the id's prefix before `:`; `-` for none), most first.
    pub sources: Vec<(String, usize)>,
    /// Bounding texts per family tag (`-` for none), most first.
    pub families: Vec<(String, usize)>,
    /// Whether the bounding texts come from two or more sources with the smaller ones
    /// holding at least [`BETWEEN_SOURCES_SHARE`] of them: the zone is the gap between
    /// sources.
    pub between_sources: bool,
}

/// The share of a zone's bounding texts that sources other than the largest must hold for
/// the zone to be flagged as the gap between sources.
pub const BETWEEN_SOURCES_SHARE: f64 = 0.3;

/// Counts of `keys`, most first (ties by name).
fn tally(keys: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for k in keys {
        *counts.entry(k).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// The composition of every zone of `report` (see [`ZoneComposition`]).
pub fn composition(report: &VoidReport, docs: &[Document]) -> Vec<ZoneComposition> {
    let family: std::collections::HashMap<&str, Option<&str>> = docs
        .iter()
        .map(|d| (d.id.as_str(), d.tag("family")))
        .collect();
    report
        .zones
        .iter()
        .map(|z| {
            let ids = &z.bounding_ids;
            let sources = tally(
                ids.iter()
                    .map(|id| super::membership::source_of(id).to_string()),
            );
            let families = tally(ids.iter().map(|id| {
                family
                    .get(id.as_str())
                    .copied()
                    .flatten()
                    .unwrap_or("-")
                    .to_string()
            }));
            let others = ids.len() - sources.first().map_or(0, |s| s.1);
            ZoneComposition {
                rank: z.rank,
                bounding: ids.len(),
                between_sources: sources.len() >= 2
                    && others as f64 >= BETWEEN_SOURCES_SHARE * ids.len() as f64,
                sources,
                families,
            }
        })
        .collect()
}

impl Zones {
    /// The summary; `docs` give the bounding texts' families.
    pub fn summary(&self, docs: &[Document]) -> ZoneSummary {
        ZoneSummary {
            points: self.report.n_points,
            found: self.report.zones_found,
            kept: self.report.zones.len(),
            significant: self.report.significant_zones().count(),
            relative_radii: self
                .report
                .zones
                .iter()
                .map(|z| z.zone.relative_radius)
                .collect(),
            p_values: self
                .report
                .zones
                .iter()
                .map(|z| z.significance.as_ref().map(|s| s.p_value))
                .collect(),
            composition: composition(&self.report, docs),
        }
    }
}

/// The file the zones are kept in.
pub const VOIDS_FILE: &str = "voids.json";

/// Searches the training vectors for void zones, or loads the search of an earlier run of
/// the same experiment (same points, same options).
pub fn find_or_load(
    space: &Space,
    split: &Split,
    opts: &VoidSearchOptions,
    out_dir: &Path,
) -> Result<Zones> {
    let path = out_dir.join(VOIDS_FILE);
    let made_from = space
        .train
        .iter()
        .fold(KeyBuilder::default(), |k, v| k.floats(v));
    let made_from = split
        .train
        .doc_ids
        .iter()
        .fold(made_from, |k, id| k.text(id))
        .finish();
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(report) = serde_json::from_str::<VoidReport>(&text) {
            // whether a bar was shown does not change the search
            let same = VoidSearchOptions {
                progress: opts.progress,
                ..report.options.clone()
            } == *opts;
            if report.made_from.as_ref() == Some(&made_from) && same {
                tracing::info!(path = %path.display(), "void zones found before; reusing them");
                return Ok(Zones { report });
            }
            tracing::warn!(
                path = %path.display(),
                "void zones of other training vectors or other options; searching again"
            );
        }
    }
    let points = PointSet::from_rows(&space.train)?;
    tracing::info!(
        points = points.len(),
        dim = points.dim(),
        "searching the training vectors for voids"
    );
    let mut report = find_voids_in_points(points, Some(&split.train.doc_ids), opts)?;
    report.made_from = Some(made_from);
    report.write_json_atomic(&path)?;
    Ok(Zones { report })
}

/// Whether `v` lies inside any ball of any of the report's zones (significant ones only
/// when `significant_only`).
pub fn inside_a_zone(report: &VoidReport, v: &[f32], significant_only: bool) -> Result<bool> {
    if v.len() != report.dim {
        return Err(EvalError::InvalidInput(format!(
            "a vector of {} floats against zones of dimension {}",
            v.len(),
            report.dim
        )));
    }
    Ok(report
        .zones
        .iter()
        .filter(|z| !significant_only || z.significance.as_ref().is_some_and(|s| s.significant))
        .flat_map(|z| &z.zone.balls)
        .any(|b| {
            let d2: f64 = b
                .centre
                .iter()
                .zip(v)
                .map(|(c, x)| f64::from(c - x).powi(2))
                .sum();
            d2 < f64::from(b.radius).powi(2)
        }))
}
