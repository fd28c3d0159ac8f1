//! # cllm — Convolution LLM and void zones
//!
//! A facade over the workspace crates. Depend on [`cllm_core`] alone for the shared
//! types and traits; depend on this crate to get the whole method.
//!
//! | module | crate | concern |
//! |---|---|---|
//! | [`core`] | `cllm-core` | `TokenMatrix`, `TextVector`, `Document`, the `Backbone` trait |
//! | [`gguf`] | `cllm-gguf` | defensive GGUF reader, writer and dequantiser |
//! | [`backend`] | `cllm-backend` | the compute backend chosen by cargo feature, and its device |
//! | [`backbone`] | `cllm-backbone` | llama models from GGUF in burn, tokenizer, MiniLM |
//! | [`corpus`] | `cllm-corpus` | default assets (pip, sha256-pinned) and the recipe corpus |
//! | [`autoencoder`] | `cllm-autoencoder` | the CLLM: token matrix ↔ text vector, training |
//! | [`void`] | `cllm-void` | vector store, k-NN, void zones and their significance |
//! | [`eval`] | `cllm-eval` | vector → text: samplers, scoring, `generate`, the method's `experiment` and its report |
//!
//! The backend features (`flex`, the default; `ndarray`, `openblas`, `wgpu`, `cuda`) are
//! forwarded to every crate that has them, so that all pick the same backend, the one
//! [`backend`] names. The model crates meet only through [`core`]'s traits: the autoencoder
//! and the evaluation take any [`core::Backbone`], not the llama adapter. Examples:
//! `cargo run --release --example method` (the whole loop), `quickstart` (text → vector →
//! text), `generate` (decode a trained model's voids).
//!
//! ```no_run
//! use cllm::backbone::{device, LlamaBackbone};
//! use cllm::core::Backbone;
//!
//! let assets = cllm::corpus::fetch_assets(&Default::default())?;
//! let corpus = cllm::corpus::load_corpus(&assets)?;
//! let dev = device::default_device()?;
//! let model = LlamaBackbone::<device::DefaultBackend>::from_gguf(&assets.gguf, &dev)?;
//! let m = model.embed(&corpus.documents()[0].text, 0)?;
//! println!("{} tokens × {} dims", m.rows(), m.cols());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub use cllm_autoencoder as autoencoder;
pub use cllm_backbone as backbone;
pub use cllm_backend as backend;
pub use cllm_core as core;
pub use cllm_corpus as corpus;
pub use cllm_eval as eval;
pub use cllm_gguf as gguf;
pub use cllm_void as void;
