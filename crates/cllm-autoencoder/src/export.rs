//! `cllm encode`: text vectors for a corpus, written to safetensors and returned for the
//! vector store.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::backend::Backend;
use cllm_core::{Backbone, Document, TextVector};
use safetensors::tensor::{Dtype, TensorView};

use crate::codec::Cllm;
use crate::error::{AutoencoderError, Result};

/// Tokenizes every document with `backbone`, truncates it to the model's `max_len`
/// tokens, takes its layer-0 token matrix and encodes it with `cllm`, in batches.
/// Empty texts are skipped (with a warning). When `out` is given, the vectors are also
/// written there as safetensors: `vectors` `[n × k]` f32, with the document ids as JSON
/// metadata (`ids`). Returns the documents with their vectors, ready for the vector store.
pub fn encode_corpus<B: Backend>(
    cllm: &Cllm<B>,
    docs: &[Document],
    backbone: &dyn Backbone,
    out: Option<&Path>,
) -> Result<Vec<(Document, TextVector)>> {
    let max_len = cllm.config().max_len;
    let mut pairs = Vec::with_capacity(docs.len());
    let mut truncated = 0usize;
    for chunk in docs.chunks(64) {
        let mut kept = Vec::with_capacity(chunk.len());
        let mut ids = Vec::with_capacity(chunk.len());
        for d in chunk {
            let mut t = backbone.tokenize(&d.text)?;
            if t.is_empty() {
                tracing::warn!(doc = %d.id, "skipping an empty text");
                continue;
            }
            if t.len() > max_len {
                truncated += 1;
                t.truncate(max_len);
            }
            kept.push(d);
            ids.push(t);
        }
        if ids.is_empty() {
            continue;
        }
        let matrices = backbone.embed_ids_batch(&ids, 0)?;
        let vectors = cllm.encode(&matrices)?;
        pairs.extend(kept.into_iter().cloned().zip(vectors));
    }
    if truncated > 0 {
        tracing::info!(truncated, max_len, "texts truncated to the model's length");
    }
    if let Some(path) = out {
        write_vectors(path, &pairs)?;
    }
    Ok(pairs)
}

/// Writes `(document, vector)` pairs as safetensors (`vectors` f32 `[n × k]`, metadata
/// `ids`: a JSON list of document ids), atomically.
pub fn write_vectors(path: &Path, pairs: &[(Document, TextVector)]) -> Result<()> {
    let dim = pairs.first().map_or(0, |(_, v)| v.dim());
    if pairs.iter().any(|(_, v)| v.dim() != dim) {
        return Err(AutoencoderError::format(path, "vectors of different sizes"));
    }
    write_vector_file(
        path,
        &VectorFile {
            ids: pairs.iter().map(|(d, _)| d.id.clone()).collect(),
            dim,
            data: pairs
                .iter()
                .flat_map(|(_, v)| v.as_slice().iter().copied())
                .collect(),
        },
    )
}

/// Writes a [`VectorFile`] (`vectors` f32 `[n × k]`, metadata `ids`), atomically.
pub fn write_vector_file(path: &Path, file: &VectorFile) -> Result<()> {
    if file.data.len() != file.ids.len() * file.dim {
        return Err(AutoencoderError::format(
            path,
            format!(
                "{} values for {} rows of width {}",
                file.data.len(),
                file.ids.len(),
                file.dim
            ),
        ));
    }
    let data: Vec<u8> = file.data.iter().flat_map(|x| x.to_le_bytes()).collect();
    let meta = HashMap::from([(
        "ids".to_string(),
        serde_json::to_string(&file.ids)
            .map_err(|e| AutoencoderError::format(path, e.to_string()))?,
    )]);
    let fmt = |e: safetensors::SafeTensorError| AutoencoderError::format(path, e.to_string());
    let view = TensorView::new(Dtype::F32, vec![file.ids.len(), file.dim], &data).map_err(fmt)?;
    let bytes = safetensors::serialize(vec![("vectors", view)], Some(meta)).map_err(fmt)?;
    cllm_core::write_atomic(path, &bytes).map_err(|e| AutoencoderError::io(path, e))
}

/// Vectors read back from a file written by [`write_vectors`] (or any safetensors file
/// with an f32 `vectors` tensor `[n × k]` and an `ids` JSON list in its metadata).
#[derive(Debug, Clone, PartialEq)]
pub struct VectorFile {
    /// The document ids, one per row.
    pub ids: Vec<String>,
    /// The row width `k`.
    pub dim: usize,
    /// The rows, row-major `[n × k]`.
    pub data: Vec<f32>,
}

impl VectorFile {
    /// The row of the `i`-th document.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Files larger than this are refused by [`read_vectors`] (4 GiB).
pub const MAX_VECTOR_FILE_BYTES: u64 = 4 << 30;

/// Reads a vector file defensively: size limit, dtype and shape checks, as many ids as
/// rows, no NaN. Errors name the file and the problem.
///
/// ```
/// use cllm_autoencoder::{read_vectors, write_vectors};
/// use cllm_core::{Document, TextVector};
/// let pairs = vec![(Document::new("a", "text a"), TextVector::new(vec![1.0, 2.0])?)];
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("v.safetensors");
/// write_vectors(&path, &pairs)?;
/// let back = read_vectors(&path)?;
/// assert_eq!(back.ids, vec!["a".to_string()]);
/// assert_eq!(back.row(0), &[1.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_vectors(path: &Path) -> Result<VectorFile> {
    let size = std::fs::metadata(path)
        .map_err(|e| AutoencoderError::io(path, e))?
        .len();
    if size > MAX_VECTOR_FILE_BYTES {
        return Err(AutoencoderError::format(
            path,
            format!("{size} bytes, more than the limit of {MAX_VECTOR_FILE_BYTES}"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| AutoencoderError::io(path, e))?;
    let fmt = |d: String| AutoencoderError::format(path, d);
    let (st, ids_json) = crate::persist::parse_safetensors(&bytes, "ids").map_err(fmt)?;
    let ids: Vec<String> = serde_json::from_str(&ids_json).map_err(|e| fmt(format!("ids: {e}")))?;
    let (data, [n, dim]) = crate::persist::read_f32_2d(&st, "vectors").map_err(fmt)?;
    if n != ids.len() {
        return Err(fmt(format!("{n} rows but {} ids", ids.len())));
    }
    if n > 0 && dim == 0 {
        return Err(fmt("rows of width 0".into()));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(fmt(format!("non-finite value in row {}", i / dim.max(1))));
    }
    Ok(VectorFile { ids, dim, data })
}
