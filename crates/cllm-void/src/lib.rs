//! # cllm-void
//!
//! Vector store and void-zone geometry of **cllm**: it takes vectors with ids and answers
//! questions about empty space. No model inside.
//!
//! - [`VectorStore`]: SQLite store of collections keyed by [`ModelKey`], transactional and
//!   resumable bulk inserts, safetensors export/import.
//! - [`KnnIndex`]: exact k-NN with a `kiddo` k-d tree (runtime dimension dispatched to
//!   compiled dimensions) or a multi-threaded brute-force scan.
//! - [`log_density_at_points`], [`log_density_at`]: k-NN density in log space.
//! - [`search_empty_balls`], [`hill_climb`]: maximal empty balls inside the data's support
//!   (see [`imbalance`]); [`merge_into_zones`] turns them into [`VoidZone`]s.
//! - [`null_points`], [`ZoneSignificance`]: the null test (Gaussian and shuffled nulls).
//! - [`PointSampler`]: seeded points in zones, near data and between data points.
//! - [`find_voids`]: the whole pipeline behind `cllm voids`, giving a [`VoidReport`].
//!
//! ```
//! use cllm_void::{find_voids_in_points, PlantedHole, VoidSearchOptions};
//! let data = PlantedHole::new(600, 2).generate()?;
//! let mut opts = VoidSearchOptions::default();
//! opts.null.runs = 4; // 19 by default
//! let report = find_voids_in_points(data.points, None, &opts)?;
//! let best = &report.zones[0].zone;
//! let off: f32 = best.centre.iter().zip(&data.hole_centre).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
//! assert!(off < 0.1 && (best.radius - 0.25).abs() < 0.05);
//! # Ok::<(), cllm_void::VoidError>(())
//! ```
#![deny(missing_docs)]

mod density;
mod empty_ball;
mod error;
mod index;
mod null;
mod points;
mod progress;
mod report;
mod sampler;
mod store;
mod support;
mod synthetic;
mod tensor_file;
mod zones;

pub use density::{log_density_at, log_density_at_points, log_knn_density, log_unit_ball_volume};
pub use empty_ball::{
    hill_climb, monte_carlo_best_ball, search_empty_balls, BallSearchOptions, EmptyBall,
};
pub use error::{Result, VoidError};
pub use index::{IndexKind, KnnIndex, KnnTable, Neighbour, AUTO_KD_TREE_MAX_DIM, KD_TREE_DIMS};
pub use null::{null_points, NullDistribution, NullModel, ZoneSignificance};
pub use points::PointSet;
pub use report::{
    find_voids, find_voids_in_points, null_distributions, void_zones, NullOptions, RankedZone,
    VoidReport, VoidSearchOptions,
};
pub use sampler::PointSampler;
pub use store::{CollectionInfo, InsertStats, ModelKey, VectorStore, MAX_DIM};
pub use support::imbalance;
pub use synthetic::{uniform_cube, PlantedData, PlantedHole};
pub use tensor_file::{DEFAULT_IMPORT_LIMIT, TENSOR_FILE_FORMAT};
pub use zones::{merge_into_zones, VoidZone};
