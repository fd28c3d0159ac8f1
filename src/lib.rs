//! # cllm — Convolution LLM and void zones
//!
//! A facade over the workspace crates. Depend on [`cllm_core`] alone for the shared
//! types and traits; depend on this crate to get the whole method.
//!
//! | crate | concern |
//! |---|---|
//! | [`core`] (`cllm-core`) | `TokenMatrix`, `TextVector`, `Document`, the `Backbone` trait |
#![deny(missing_docs)]

pub use cllm_core as core;
