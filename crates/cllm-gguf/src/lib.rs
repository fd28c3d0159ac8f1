//! Defensive reader, writer and dequantiser for GGUF, the model file format of
//! llama.cpp / ggml.
//!
//! * [`GgufFile`] memory-maps (or takes in memory) a GGUF **v2 or v3, little-endian**
//!   file, parses and validates its header, metadata and tensor descriptors, and gives
//!   typed metadata access (`get_u32`, `get_str`, `get_str_array`, ...) and tensor
//!   data, raw ([`GgufFile::tensor_bytes`]) or dequantised to `f32`
//!   ([`GgufFile::tensor_f32`]).
//! * [`dequantize`] turns F32, F16, BF16, F64, I8–I64, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
//!   Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K data into `f32`, bit-identical to ggml's
//!   `dequantize_row_*` and gguf-py's `gguf.quants.dequantize` (checked against
//!   fixtures made by gguf-py). Other types (i-quants, ternary, MXFP4) can be read raw
//!   but give [`GgufError::UnsupportedType`] when dequantised.
//! * [`GgufWriter`] writes small GGUF files (e.g. tiny random llama models for tests),
//!   quantising with ggml's reference quantisers ([`quantize`]).
//!
//! # Untrusted input
//!
//! Every read is bounds-checked; counts and lengths are checked against the bytes
//! left in the file *before* anything is allocated for them; dimension products use
//! checked arithmetic; every tensor's data range must be aligned, inside the file and
//! disjoint from the others; arrays nest at most [`MAX_ARRAY_DEPTH`] deep. Metadata
//! arrays are stored compactly by element type ([`MetadataArray`]), so memory use stays
//! a small multiple of the file size. Violations are reported as typed [`GgufError`]s,
//! never as panics.
//!
//! # Layout conventions
//!
//! [`TensorInfo::dims`] are in GGUF/ggml order, innermost (fastest-varying) first:
//! `ne0, ne1, ...`. [`TensorInfo::shape`] and the data returned by
//! [`GgufFile::tensor_f32`] are row-major (PyTorch order, dims reversed): a linear
//! layer stored with `ne = [in_features, out_features]` has shape
//! `[out_features, in_features]`, and row `o` holds the weights of output `o`.
//!
//! **RoPE permutation of llama Q/K weights.** llama.cpp's HF→GGUF converter permutes
//! the rows of `attn_q.weight` and `attn_k.weight` of llama-architecture models
//! (it interleaves the two rotary halves of each head, to match ggml's "normal" RoPE
//! that rotates adjacent pairs instead of the HF "rotate_half" layout). This crate
//! returns the tensors exactly as stored and does **not** undo that permutation: it is
//! model-specific and belongs in the model loader. To get HF layout back for a head
//! size `d` and `n_head` heads, reshape rows as `[n_head, d/2, 2, cols]`, swap the
//! two middle axes to `[n_head, 2, d/2, cols]`, and flatten again (for K use
//! `n_head_kv`).
//!
//! # Example
//!
//! ```
//! use cllm_gguf::{GgufFile, GgufWriter, GgmlType};
//!
//! let mut w = GgufWriter::new();
//! w.add_metadata("general.architecture", "llama")?;
//! w.add_metadata("llama.embedding_length", 64u32)?;
//! let data: Vec<f32> = (0..4 * 64).map(|i| i as f32 / 256.0).collect();
//! w.add_tensor_f32("blk.0.attn_q.weight", &[4, 64], &data, GgmlType::Q4_1)?;
//!
//! let f = GgufFile::from_bytes(w.to_bytes()?)?;
//! assert_eq!(f.version(), 3);
//! assert_eq!(f.get_usize("llama.embedding_length")?, 64);
//! let t = f.tensor_info("blk.0.attn_q.weight")?;
//! assert_eq!((t.dims.clone(), t.shape(), t.ggml_type), (vec![64, 4], vec![4, 64], GgmlType::Q4_1));
//! let w = f.tensor_f32("blk.0.attn_q.weight")?;
//! assert!(w.iter().zip(&data).all(|(a, b)| (a - b).abs() < 0.02));
//!
//! // Errors name what is wrong:
//! let err = f.get_u32("llama.block_count").unwrap_err();
//! assert!(err.to_string().contains("llama.block_count"));
//! # Ok::<(), cllm_gguf::GgufError>(())
//! ```
#![deny(missing_docs)]

mod cursor;
mod dequant;
mod error;
mod file;
mod metadata;
mod quant;
mod tensor;
mod types;
mod writer;

pub use dequant::dequantize;
pub use error::{GgufError, Result};
pub use file::{GgufFile, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC};
pub use indexmap::IndexMap;
pub use metadata::{MetadataArray, MetadataValue, ValueType, MAX_ARRAY_DEPTH};
pub use quant::quantize;
pub use tensor::{TensorInfo, MAX_DIMS};
pub use types::{GgmlType, QK_K};
pub use writer::GgufWriter;
