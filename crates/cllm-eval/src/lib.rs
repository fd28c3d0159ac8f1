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
//! Decoding itself (greedy, beam, nucleus, repetition rules) is the CLLM's:
//! [`cllm_autoencoder::decoding`].
#![deny(missing_docs)]

mod error;
pub mod generation;
pub mod scoring;
pub mod sources;

pub use error::{EvalError, Result};
pub use generation::{generate, DataPoints, GenerateOptions, GenerationReport};
pub use scoring::{ReferenceCorpus, TextScores};
pub use sources::{Provenance, VectorSource};
