//! The report's figures as dependency-free SVG documents, returned as `String`s:
//!
//! - [`scatter_map`]: the 2-D map of the latent space (points by group, void zones as
//!   dashed circles), drawn at equal scale on both axes so circles stay round;
//! - [`interval_bars`]: estimates with their intervals (AUROC per space with 95% whiskers),
//!   with an optional dashed reference line (chance, 0.5);
//! - [`line_chart`]: series of `(x, y)` points (training curves, the dimension sweep).
//!
//! Every figure has a `viewBox`, a title, axes with "nice" ticks (1, 2 or 5 × 10ⁿ) and a
//! legend; every text is escaped; every marker carries a `<title>` (a tooltip in a
//! browser). Non-finite values are not drawn: they are counted, and the count is written
//! under the figure. Empty input gives a valid figure that says "no data". The output is
//! a pure function of the input: the same input gives the same bytes.

use serde::{Deserialize, Serialize};

mod canvas;
mod interval_bars;
mod line_chart;
mod scatter_map;
#[cfg(test)]
mod well_formed;

pub use interval_bars::interval_bars;
pub use line_chart::line_chart;
pub use scatter_map::scatter_map;

/// The colours given to groups and series, in order of first appearance. The first is a
/// light grey, meant for the background group of a map (the training texts).
pub const PALETTE: [&str; 10] = [
    "#b0b0b0", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22",
];

/// One point of a [`scatter_map`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapPoint {
    /// The horizontal map coordinate.
    pub x: f64,
    /// The vertical map coordinate.
    pub y: f64,
    /// The group it is coloured and counted by (`"train"`, `"validation"`, `"pizza"`, …).
    pub group: String,
    /// Its tooltip (a title, an id).
    pub label: String,
}

/// A circle of a [`scatter_map`] (a void zone: centre and radius in map coordinates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapCircle {
    /// The horizontal coordinate of the centre.
    pub x: f64,
    /// The vertical coordinate of the centre.
    pub y: f64,
    /// The radius, in map units (non-negative).
    pub r: f64,
    /// Its tooltip.
    pub label: String,
}

/// One estimate of an [`interval_bars`] figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalBar {
    /// The category, written under the axis.
    pub label: String,
    /// The estimate (a dot).
    pub value: f64,
    /// The lower end of its interval.
    pub low: f64,
    /// The upper end of its interval.
    pub high: f64,
}

/// One named series of a [`line_chart`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The name in the legend.
    pub name: String,
    /// The `(x, y)` points, joined in this order.
    pub points: Vec<(f64, f64)>,
}

/// The colour of the `i`-th group or series.
fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}
