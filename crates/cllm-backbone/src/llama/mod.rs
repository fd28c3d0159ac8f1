//! Llama-architecture models: the burn module ([`model`]) and its GGUF loader ([`loader`]).

mod fused;
pub mod loader;
pub mod model;

pub use loader::{config_from_gguf, load_llama};
pub use model::{Llama, LlamaConfig, LlamaKvCache};
