//! BERT encoders (all-MiniLM-L6-v2 and other `BertModel` checkpoints): the burn module
//! ([`model`]) and its safetensors loader ([`loader`]).
//!
//! The sentence encoder built on them is [`MiniLm`](crate::MiniLm).
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::{Int, Tensor};
//! use cllm_backbone::bert::BertConfig;
//!
//! // A tiny random BERT: 2 blocks, width 8, 2 heads.
//! let config = BertConfig::new(50, 8, 2, 2, 16);
//! let model = config.init::<NdArray>(&Default::default());
//! let ids = Tensor::<NdArray, 2, Int>::from_ints([[1, 2, 3]], &Default::default());
//! assert_eq!(model.forward(ids, None, None).dims(), [1, 3, 8]);
//! ```

pub mod loader;
pub mod model;

pub use loader::{config_from_file, config_from_json, load_bert, load_bert_file};
pub use model::{BertConfig, BertModel};
