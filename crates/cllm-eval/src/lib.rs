//! # cllm-eval
//!
//! The last steps of **cllm**'s data flow, vector → text, and their judgement:
//!
//! - [`sources`]: where vectors come from (void zones, near data, midpoints, a Gaussian
//!   fit), seeded, each with its [`Provenance`](sources::Provenance);
//! - [`scoring`]: fluency (the backbone's perplexity against real texts), novelty (word
//!   overlap with the nearest corpus text, latent distance), duplicates, the family a
//!   text reads as, and the usefulness rank;
//! - [`generation`]: the `cllm generate` pipeline (draw → decode → score → rank → JSONL
//!   and markdown).
//!
//! And the experiment's report:
//!
//! - [`metrics`]: checked AUROC (ties averaged), rates, and seeded percentile-bootstrap
//!   95% [`Interval`]s ([`bootstrap_auroc`], [`bootstrap_mean`], [`bootstrap_rate`]);
//! - [`projection`]: [`Pca2`], a deterministic 2-D principal-component map of a vector
//!   space;
//! - [`plot`]: dependency-free SVG figures: [`scatter_map`] (the latent map with void
//!   zones), [`interval_bars`] (estimates with intervals), [`line_chart`] (curves, sweeps);
//! - [`report_page`]: [`html_page`], one self-contained `report.html` (tables, figures, the
//!   report data embedded as JSON, and an interactive latent map).
//!
//! And the method's own test, end to end: [`experiment`] (`cllm experiment`: CLLM1 with a
//! family held out, void zones of its training vectors, membership, three readings of
//! CLLM2 cross-decoded by CLLM1, discovery from voids, and the report).
//!
//! Decoding itself (greedy, beam, nucleus, repetition rules) is the CLLM's:
//! [`cllm_autoencoder::decoding`].
#![deny(missing_docs)]

mod error;
pub mod experiment;
pub mod generation;
pub mod likeness;
pub mod realism;
mod markup;
pub mod metrics;
pub mod plot;
pub mod projection;
pub mod report_page;
pub mod scoring;
pub mod sources;
pub mod void_score;
pub mod word_classifier;

pub use error::{EvalError, Result};
pub use experiment::{run_experiment, ExperimentOptions, ExperimentReport};
pub use generation::{generate, DataPoints, GenerateOptions, GenerationReport};
pub use metrics::{auroc, bootstrap_auroc, bootstrap_mean, bootstrap_rate, rate, Interval};
pub use plot::{
    interval_bars, line_chart, scatter_map, IntervalBar, MapCircle, MapPoint, Series, PALETTE,
};
pub use projection::Pca2;
pub use report_page::{
    html_page, Block, InteractiveMap, InteractivePoint, InteractiveZone, Section, Table, ZoneSample,
};
pub use scoring::{ReferenceCorpus, TextScores};
pub use sources::{Provenance, VectorSource};
