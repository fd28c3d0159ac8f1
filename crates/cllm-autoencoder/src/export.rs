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
    let k = pairs.first().map_or(0, |(_, v)| v.dim());
    if pairs.iter().any(|(_, v)| v.dim() != k) {
        return Err(AutoencoderError::format(path, "vectors of different sizes"));
    }
    let data: Vec<u8> = pairs
        .iter()
        .flat_map(|(_, v)| v.as_slice().iter().flat_map(|x| x.to_le_bytes()))
        .collect();
    let ids: Vec<&str> = pairs.iter().map(|(d, _)| d.id.as_str()).collect();
    let meta = HashMap::from([(
        "ids".to_string(),
        serde_json::to_string(&ids).map_err(|e| AutoencoderError::format(path, e.to_string()))?,
    )]);
    let fmt = |e: safetensors::SafeTensorError| AutoencoderError::format(path, e.to_string());
    let view = TensorView::new(Dtype::F32, vec![pairs.len(), k], &data).map_err(fmt)?;
    let bytes = safetensors::serialize(vec![("vectors", view)], Some(meta)).map_err(fmt)?;
    cllm_core::write_atomic(path, &bytes).map_err(|e| AutoencoderError::io(path, e))
}
