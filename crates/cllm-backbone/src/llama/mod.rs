//! Llama-architecture models: the burn module ([`model`]) and its GGUF loader ([`loader`]).

mod cached;
mod fused;
pub mod loader;
pub mod model;

pub(crate) use cached::{HostKvCache, HostLlama};
pub(crate) use fused::runs_on_host;
pub use loader::{config_from_gguf, load_llama};
pub use model::{Llama, LlamaConfig, LlamaKvCache};
